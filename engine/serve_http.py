"""`minigpt serve CKPT --http HOST:PORT`: an OpenAI-compatible chat server on FastAPI and uvicorn.

GET /v1/models and POST /v1/chat/completions (JSON, or server-sent events through sse-starlette). Replies come from
the batch scheduler (engine/batching.py), whose thread never touches a socket: tokens are handed to the event loop,
and a client that stops reading is dropped after SEND_TIMEOUT while everyone else keeps streaming. A client that
leaves cancels its reply at the next token. Every error is JSON in OpenAI's shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
import threading
import time

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sse_starlette import EventSourceResponse
from sse_starlette.sse import SendTimeoutError
from starlette.exceptions import HTTPException

from engine import __version__
from engine.batching import Busy, Job, Scheduler
from engine.generate import SamplingError, trim_at_stop
from engine.inference import LoadedModel
from engine.serve_http_guard import (
    MAX_BODY,
    MAX_CONNECTIONS,
    READ_TIMEOUT,
    DeadlineH11,
    RequestGuard,
    error_response_bytes,
)
from engine.serve_openai import ApiError, ChatBody, ChatRequest, build_request, usage, validation_error
from engine.stop_trim import StopTrimmer

__all__ = ["MAX_BODY", "ChatServer", "make_server", "parse_address", "serve_http"]

SEND_TIMEOUT = 10.0       # seconds one streamed chunk may wait on a client that does not read
KEEP_ALIVE = 5            # seconds an idle kept-alive connection stays open
MAX_BATCH = 16            # replies decoded together
MAX_WAITING = 64          # replies waiting for a batch row before new requests get 503


def _error(status: int, message: str, **kw) -> Response:
    return Response(error_response_bytes(status, message, **kw), status_code=status, media_type="application/json")


def create_app(lm: LoadedModel, scheduler: Scheduler, model_id: str, send_timeout: float = SEND_TIMEOUT) -> FastAPI:
    app = FastAPI(title="minigpt", version=__version__, docs_url=None, redoc_url=None, openapi_url=None,
                  strict_content_type=False)  # a body sent without a Content-Type is read as JSON
    created = int(time.time())
    card = {"id": model_id, "object": "model", "created": created, "owned_by": "minigpt",
            "minigpt": {"checkpoint": lm.folder.name, "step": lm.meta.get("step"), "stage": lm.meta.get("stage"),
                        "max_seq_len": lm.model.cfg.max_seq_len, "params": lm.model.num_params()}}

    @app.exception_handler(ApiError)
    async def _on_api_error(_request, e: ApiError):
        return _error(e.status, e.message, type=e.type, param=e.param, code=e.code)

    @app.exception_handler(RequestValidationError)
    async def _on_invalid(_request, e: RequestValidationError):
        err = validation_error(list(e.errors()))
        return _error(err.status, err.message, param=err.param)

    @app.exception_handler(SamplingError)
    async def _on_sampling(_request, e: SamplingError):
        return _error(400, e.message)

    @app.exception_handler(HTTPException)
    async def _on_http(_request, e: HTTPException):
        text = {404: "no such endpoint", 405: "method not allowed here"}.get(e.status_code, str(e.detail))
        return _error(e.status_code, text if e.status_code in (404, 405) else str(e.detail))

    @app.exception_handler(Exception)
    async def _on_bug(_request, e: Exception):  # a bug answers 500 and the server keeps serving
        print(f"serve --http: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return _error(500, f"internal error: {type(e).__name__}")

    @app.get("/v1/models")
    async def _models():
        return {"object": "list", "data": [card]}

    @app.get("/v1/models/{name}")
    async def _model(name: str):
        if name != model_id:
            raise ApiError(404, f"the model '{name}' does not exist", param="model", code="model_not_found")
        return card

    @app.get("/health")
    @app.get("/v1/health")
    async def _health():
        return {"status": "ok"}

    @app.post("/v1/chat/completions")
    async def _chat(request: Request, body: ChatBody):
        req = build_request(body, lm.tok, lm.model.cfg.max_seq_len, model_id)
        envelope = {"id": req.id, "created": int(time.time()), "model": model_id,
                    "system_fingerprint": f"minigpt-{__version__}"}
        loop = asyncio.get_running_loop()
        tokens: asyncio.Queue = asyncio.Queue()

        def hand_over(item) -> None:  # scheduler thread -> event loop; never blocks the scheduler
            with contextlib.suppress(RuntimeError):  # the loop is gone: the server is stopping
                loop.call_soon_threadsafe(tokens.put_nowait, item)
        try:
            job = scheduler.submit(req.prompt, req.params, on_token=hand_over if req.stream else None,
                                   on_done=hand_over)
        except Busy as e:
            raise ApiError(503, f"the server is busy ({e}); try again shortly", "server_busy") from None
        if req.stream:
            return ReplyStream(_stream(req, job, tokens, lm, {**envelope, "object": "chat.completion.chunk"}), job,
                               sep="\n", send_timeout=send_timeout, ping=15)
        return await _complete(request, req, job, tokens, lm, {**envelope, "object": "chat.completion"})

    return app


class ReplyStream(EventSourceResponse):
    """Server-sent events whose client stops reading for send_timeout is dropped: an expected end, not a bug (the
    stream's generator is closed, which cancels its reply)."""

    def __init__(self, content, job: Job, **kwargs):
        super().__init__(content, **kwargs)
        self.job = job

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        except* SendTimeoutError:
            print("serve --http: dropped a client that stopped reading its stream", file=sys.stderr)
        finally:
            self.job.cancel()  # also when the stream never started (the client left first): no reply for nobody


async def _wait_for_disconnect(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _complete(request: Request, req: ChatRequest, job: Job, done: asyncio.Queue, lm: LoadedModel,
                    envelope: dict) -> Response:
    """The whole reply as one JSON object; a client that hangs up first cancels it at the next token."""
    finished = asyncio.ensure_future(done.get())
    gone = asyncio.ensure_future(_wait_for_disconnect(request))
    try:
        await asyncio.wait({finished, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not finished.done():
            job.cancel()
        finished.cancel()
        gone.cancel()
    if not job.done.is_set():
        return Response(status_code=499)  # nobody is left to read it
    if job.reason == "error":
        return _error(500, f"internal error: {type(job.error).__name__}")
    text, found = trim_at_stop(lm.tok.decode(job.out, skip_special=True), req.params.stop_strings)
    reason = "stop" if found or job.reason == "stop" else "length"
    return JSONResponse({**envelope, "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                                  "finish_reason": reason, "logprobs": None}],
                         "usage": usage(req, len(job.out))})


async def _stream(req: ChatRequest, job: Job, tokens: asyncio.Queue, lm: LoadedModel, base: dict):
    """OpenAI's chunk stream. Ending this generator early (client gone, send timed out) cancels the reply."""
    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {"data": json.dumps({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish,
                                                          "logprobs": None}]}, ensure_ascii=False)}
    try:
        yield chunk({"role": "assistant", "content": ""})
        pieces = StopTrimmer(lm.tok, req.params.stop_strings)
        finished = False
        while not finished:
            # Everything that arrived since the last chunk goes out as one: when many replies decode together the
            # event loop falls behind the scheduler, and fewer, larger chunks let it catch up.
            ready = [await tokens.get()]
            while not tokens.empty():
                ready.append(tokens.get_nowait())
            text = ""
            for item in ready:
                if isinstance(item, Job):
                    finished = True
                    break
                text += pieces.push(item)
            if text:
                yield chunk({"content": text})
            if pieces.stopped:
                job.cancel()
        if job.reason == "error":
            error = {"error": {"message": f"internal error: {type(job.error).__name__}", "type": "server_error"}}
            yield {"data": json.dumps(error)}
            return
        rest = pieces.flush()
        if rest:
            yield chunk({"content": rest})
        yield chunk({}, "stop" if pieces.stopped or job.reason == "stop" else "length")
        if req.include_usage:
            yield {"data": json.dumps({**base, "choices": [], "usage": usage(req, len(job.out))})}
        yield {"data": "[DONE]"}
    finally:
        job.cancel()


class ChatServer:
    """The app, its scheduler and a uvicorn server on a socket bound at construction (so a taken port fails here).
    serve_forever() runs it on the calling thread; shutdown() and server_close() may come from any other."""

    def __init__(self, lm: LoadedModel, address: tuple[str, int], api_key: str | None = None,
                 max_batch: int = MAX_BATCH, log_level: str = "warning", read_timeout: float = READ_TIMEOUT,
                 send_timeout: float = SEND_TIMEOUT, max_connections: int = MAX_CONNECTIONS):
        host, port = address
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.create_server((host, port), family=family, backlog=128)
        self.server_address = self.sock.getsockname()[:2]
        folder = lm.folder
        run = folder.parent.parent.name if folder.parent.name == "checkpoints" else folder.name
        self.model_id = run or "minigpt"
        self.lm = lm
        self.scheduler = Scheduler(lm.generator, max_batch=max_batch, max_waiting=MAX_WAITING)
        app = RequestGuard(create_app(lm, self.scheduler, self.model_id, send_timeout), api_key=api_key,
                           read_timeout=read_timeout)
        protocol = type("DeadlineH11", (DeadlineH11,), {"head_timeout": read_timeout,
                                                         "max_connections": max_connections})
        config = uvicorn.Config(app, http=protocol, lifespan="off", log_level=log_level,
                                timeout_keep_alive=KEEP_ALIVE, limit_concurrency=4 * max_connections,
                                timeout_graceful_shutdown=3)
        self.server = uvicorn.Server(config)
        self._stopped = threading.Event()

    def serve_forever(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self._stopped.set()

    def shutdown(self, timeout: float = 15) -> None:
        """Ask the server to stop: running replies are cancelled, then the loop ends. Waits for serve_forever."""
        self.scheduler.close(timeout=0)
        self.server.should_exit = True
        self._stopped.wait(timeout)

    def server_close(self) -> None:
        self.server.should_exit = True
        self.scheduler.close()
        with contextlib.suppress(OSError):
            self.sock.close()


def parse_address(text: str) -> tuple[str, int]:
    """"HOST:PORT", ":PORT" or "PORT" -> (host, port); the host defaults to 127.0.0.1 (this machine only)."""
    from engine.errors import UserError
    host, _, port = text.rpartition(":") if ":" in text else ("", "", text)
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise UserError(f"--http {text}: expected HOST:PORT with a port number", "e.g. --http 127.0.0.1:8000",
                        kind="config")
    return host, number


def make_server(lm: LoadedModel, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None,
                max_batch: int = MAX_BATCH, log_level: str = "warning", **limits) -> ChatServer:
    """A bound, not yet serving ChatServer; limits: read_timeout, send_timeout (seconds), max_connections."""
    from engine.errors import UserError
    try:
        return ChatServer(lm, (host, port), api_key, max_batch=max_batch, log_level=log_level, **limits)
    except OSError as e:  # port taken, address not on this machine, no permission for a low port
        raise UserError(f"cannot listen on {host}:{port} ({e.strerror or e})",
                        "pick another port, or stop the program that holds this one", kind="config") from None


def serve_http(lm: LoadedModel, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None,
               max_batch: int = MAX_BATCH) -> int:
    """Serve until interrupted (Ctrl-C). Returns the exit code. On the CPU replies decode in fp32: bf16 autocast
    there re-casts every weight at every op and measured 2-3x slower per token."""
    device = lm.rt.describe()
    if lm.rt.device.type == "cpu":
        lm.generator.autocast = contextlib.nullcontext
        device = device.rsplit(" · ", 1)[0] + " · fp32"
    server = make_server(lm, host, port, api_key, max_batch=max_batch, log_level="info")
    real_host, real_port = server.server_address
    print(f"serving {server.model_id} ({device}) at http://{real_host}:{real_port}/v1 "
          f"- OpenAI-compatible, up to {server.scheduler.max_batch} replies decoded together; Ctrl-C stops",
          file=sys.stderr, flush=True)
    if host not in ("127.0.0.1", "localhost", "::1") and not api_key:
        print("warning: listening beyond this machine without an API key; anyone who can reach it can use it",
              file=sys.stderr)
    try:
        server.serve_forever()  # uvicorn handles Ctrl-C / SIGTERM: graceful stop
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
