"""`minigpt serve CKPT --http HOST:PORT`: an OpenAI-compatible chat server on the standard library's HTTP server.

GET /v1/models and POST /v1/chat/completions (JSON, or server-sent events). Bad requests get 4xx JSON errors in OpenAI's
shape; one worker thread generates every reply in arrival order, so concurrent requests queue and never interleave.
Owns request parsing and the wire format; the model, tokenizer and generator come from LoadedModel.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from engine import __version__
from engine.generate import SamplingError, SamplingParams, trim_at_stop
from engine.inference import LoadedModel
from engine.tokenizer import Tokenizer

MAX_BODY = 1 << 20      # bytes of JSON a request may carry
MAX_WAITING = 32        # requests queued behind the running one before new ones get 503
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


class RequestError(Exception):
    """A request we answer with a 4xx: status, message, and OpenAI's error type/param/code."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code


@dataclass
class ChatRequest:
    id: str
    prompt: list[int]
    params: SamplingParams
    stream: bool
    include_usage: bool


def _number(body: dict, key: str, kind: type, default, low: float | None = None, high: float | None = None):
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
        raise RequestError(400, f"'{key}' must be {'an integer' if kind is int else 'a number'}", param=key)
    if (low is not None and value < low) or (high is not None and value > high):
        raise RequestError(400, f"'{key}'={value} is out of range [{low}, {high}]", param=key)
    return kind(value)


def _content(message: dict, i: int) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return "".join(str(p.get("text", "")) for p in content)
    raise RequestError(400, f"messages[{i}].content must be a string or a list of text parts", param="messages")


def parse_chat_request(raw: bytes, lm: LoadedModel) -> ChatRequest:
    """Validate an OpenAI chat-completions body; anything we cannot honour is a RequestError (400)."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise RequestError(400, f"the body is not valid JSON ({e})") from None
    if not isinstance(body, dict):
        raise RequestError(400, "the body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "'messages' must be a non-empty list of {role, content} objects", param="messages")
    turns = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise RequestError(400, f"messages[{i}] needs a role of {', '.join(ROLES)}", param="messages")
        turns.append({"role": ROLES[m["role"]], "content": _content(m, i)})
    if _number(body, "n", int, 1) != 1:
        raise RequestError(400, "only n=1 is supported", param="n")
    stop = body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or len(stop) > 4 or not all(isinstance(s, str) and s for s in stop):
        raise RequestError(400, "'stop' must be a string or a list of up to 4 non-empty strings", param="stop")
    prompt, _ = lm.tok.encode_chat(turns, add_generation_prompt=True)
    room = lm.model.cfg.max_seq_len - len(prompt)
    if room < 1:
        raise RequestError(400, f"the messages take {len(prompt)} tokens; this model's context is "
                           f"{lm.model.cfg.max_seq_len}", param="messages", code="context_length_exceeded")
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    max_new = _number({"max_tokens": limit}, "max_tokens", int, room, 1)
    params = SamplingParams(
        max_new_tokens=min(max_new, room), temperature=_number(body, "temperature", float, 1.0, 0, 2),
        top_p=_number(body, "top_p", float, 1.0, 0, 1), top_k=_number(body, "top_k", int, 0, 0),
        min_p=_number(body, "min_p", float, 0.0, 0, 1), seed=_number(body, "seed", int, None),
        repetition_penalty=_number(body, "repetition_penalty", float, 1.0, 0.01, 10), stop_strings=stop,
        stop_ids=[lm.tok.im_start_id])  # a reply that opens a new turn is over
    if params.top_p == 0:
        params.temperature = 0.0  # top_p 0 keeps only the likeliest token
        params.top_p = 1.0
    stream_options = body.get("stream_options") or {}
    include_usage = bool(stream_options.get("include_usage")) if isinstance(stream_options, dict) else False
    return ChatRequest(f"chatcmpl-{uuid.uuid4().hex[:24]}", prompt, params.validate(), bool(body.get("stream")),
                       include_usage)


class StopTrimmer:
    """Streamed text pieces as tokens arrive: holds back an incomplete UTF-8 character and any tail that could be
    the start of a stop string, and ends the text before the first stop string."""

    def __init__(self, tok: Tokenizer, stops: list[str]):
        self.tok, self.stops, self.ids, self.sent, self.stopped = tok, stops, [], 0, False

    def _text(self) -> str:
        text, found = trim_at_stop(self.tok.decode(self.ids, skip_special=True), self.stops)
        self.stopped = self.stopped or found
        return text

    def push(self, token_id: int) -> str:
        self.ids.append(token_id)
        text = self._text()
        if text.endswith("\ufffd") and not self.stopped:
            return ""
        end = len(text)
        if not self.stopped:
            for s in self.stops:  # hold back the longest tail that is a prefix of a stop string
                end = min(end, next((len(text) - k for k in range(min(len(s) - 1, len(text)), 0, -1)
                                     if text.endswith(s[:k])), len(text)))
        piece, self.sent = text[self.sent:end], max(self.sent, end)
        return piece

    def flush(self) -> str:
        """What is left once generation ends (held-back text that turned out not to be a stop string)."""
        text = self._text()
        piece, self.sent = text[self.sent:], len(text)
        return piece


class ChatServer(ThreadingHTTPServer):
    daemon_threads = False  # server_close() ends and joins every request thread: none outlives the server

    def __init__(self, lm: LoadedModel, address: tuple[str, int], api_key: str | None = None):
        self.lm, self.api_key = lm, api_key
        self.closing = threading.Event()    # set by server_close(): running replies stop early
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        # One worker generates every reply, first come first served: the model and its KV caches are not shared,
        # and torch state stays on one long-lived thread that server_close() joins.
        self.jobs: queue.Queue = queue.Queue(maxsize=MAX_WAITING)
        folder = lm.folder
        run = folder.parent.parent.name if folder.parent.name == "checkpoints" else folder.name
        self.model_id = run or "minigpt"
        self.created = int(time.time())
        super().__init__(address, ChatHandler)  # binds: raises OSError before any thread exists
        self.worker = threading.Thread(target=self._work, name="minigpt-generate", daemon=True)
        self.worker.start()

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None:
            job()

    def run_job(self, fn) -> None:
        """Run fn on the worker and wait for it; its exception is re-raised here. Raises 503 when the queue is full."""
        done, box = threading.Event(), {}

        def job():
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 - handed back to the request's thread
                box["error"] = e
            finally:
                done.set()
        try:
            self.jobs.put_nowait(job)
        except queue.Full:
            raise RequestError(503, "the server is busy; try again shortly", "server_busy") from None
        done.wait()
        if "error" in box:
            raise box["error"]

    def process_request(self, request, client_address) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        """Stop: cancel the running reply, wake request threads idling on kept-alive connections, join them all.
        (A thread left running at interpreter exit that drops the last reference to a tensor aborts the process.)"""
        self.closing.set()
        with self.connections_lock:
            open_now = list(self.connections)
        for conn in open_now:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        super().server_close()  # joins request threads; also called by the constructor when binding fails
        worker = getattr(self, "worker", None)
        if worker is not None and worker.is_alive():
            self.jobs.put(None)
            worker.join(timeout=30)

    def model_card(self) -> dict:
        lm = self.lm
        return {"id": self.model_id, "object": "model", "created": self.created, "owned_by": "minigpt",
                "minigpt": {"checkpoint": str(lm.folder), "step": lm.meta.get("step"), "stage": lm.meta.get("stage"),
                            "max_seq_len": lm.model.cfg.max_seq_len, "params": lm.model.num_params()}}


class ChatHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ChatServer

    # ---------------------------------------------------------------- routing
    def do_GET(self):
        self._guard(self._get)

    def do_POST(self):
        self._guard(self._post)

    def _get(self):
        self._check_key()
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/v1/models":
            return self._json(200, {"object": "list", "data": [self.server.model_card()]})
        if path == f"/v1/models/{self.server.model_id}":
            return self._json(200, self.server.model_card())
        if path in ("/health", "/v1/health"):
            return self._json(200, {"status": "ok"})
        raise RequestError(404, f"no such endpoint: GET {path}", "not_found")

    def _post(self):
        self._check_key()
        path = self.path.split("?", 1)[0].rstrip("/")
        if path != "/v1/chat/completions":
            raise RequestError(404, f"no such endpoint: POST {path}", "not_found")
        req = parse_chat_request(self._body(), self.server.lm)
        self.server.run_job(lambda: (self._stream if req.stream else self._complete)(req))

    def _guard(self, handler):
        """Every failure becomes a JSON error response; nothing escapes to kill the connection thread noisily."""
        try:
            handler()
        except RequestError as e:
            self.close_connection = True  # the body may be unread: never reuse this connection
            self._json(e.status, {"error": {"message": e.message, "type": e.type, "param": e.param, "code": e.code}})
        except SamplingError as e:
            self.close_connection = True
            self._json(400, {"error": {"message": e.message, "type": "invalid_request_error", "param": None,
                                       "code": None}})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - a bug answers 500 and the server keeps serving
            self.close_connection = True
            print(f"serve --http: internal error: {type(e).__name__}: {e}", file=sys.stderr)
            if getattr(self, "streaming", False):  # mid-stream: an error event (OpenAI clients raise it), then close
                error = {"error": {"message": f"internal error: {type(e).__name__}", "type": "server_error"}}
                with contextlib.suppress(OSError):
                    self.wfile.write(f"data: {json.dumps(error)}\n\n".encode())
                return
            self._json(500, {"error": {"message": f"internal error: {type(e).__name__}", "type": "server_error",
                                       "param": None, "code": None}})

    # ---------------------------------------------------------------- plumbing
    def _check_key(self):
        key = self.server.api_key
        if key and self.headers.get("Authorization", "") != f"Bearer {key}":
            raise RequestError(401, "missing or wrong API key (send Authorization: Bearer <key>)",
                               "authentication_error")

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None:
            raise RequestError(411, "a Content-Length header is required")
        try:
            n = int(length)
        except ValueError:
            raise RequestError(400, "Content-Length is not a number") from None
        if n < 0:
            raise RequestError(400, "Content-Length is negative")
        if n > MAX_BODY:
            if n <= 8 * MAX_BODY:  # read it away so the client sees our answer rather than a reset connection
                left = n
                while left > 0 and (chunk := self.rfile.read(min(1 << 16, left))):
                    left -= len(chunk)
            raise RequestError(413, f"request body of {n} bytes is over the {MAX_BODY} byte limit")
        return self.rfile.read(n)

    def _json(self, status: int, obj: dict):
        data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        print(f"{self.address_string()} {format % args}", file=sys.stderr)

    # ---------------------------------------------------------------- replies
    def _envelope(self, req: ChatRequest, kind: str) -> dict:
        return {"id": req.id, "object": kind, "created": int(time.time()), "model": self.server.model_id,
                "system_fingerprint": f"minigpt-{__version__}"}

    def _usage(self, req: ChatRequest, n: int) -> dict:
        return {"prompt_tokens": len(req.prompt), "completion_tokens": n, "total_tokens": len(req.prompt) + n}

    def _complete(self, req: ChatRequest):
        lm = self.server.lm
        c = lm.generator.complete([req.prompt], req.params, on_tokens=lambda *_: not self.server.closing.is_set())[0]
        text, found = trim_at_stop(lm.tok.decode(c.ids, skip_special=True), req.params.stop_strings)
        reason = "stop" if found or c.finish_reason == "stop" else "length"
        self._json(200, {**self._envelope(req, "chat.completion"),
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                      "finish_reason": reason, "logprobs": None}],
                         "usage": self._usage(req, len(c.ids))})

    def _stream(self, req: ChatRequest):
        lm = self.server.lm
        self.close_connection = True  # the stream ends when the connection closes
        self.streaming = True         # from here on an error cannot become a JSON response
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        base = self._envelope(req, "chat.completion.chunk")
        gone = threading.Event()

        def send(delta: dict, finish: str | None = None, **extra) -> bool:
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
                     **extra}
            try:
                self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                gone.set()  # the client left: stop generating for it
            return not gone.is_set()

        if not send({"role": "assistant", "content": ""}):
            return  # the client left while waiting in the queue
        pieces = StopTrimmer(lm.tok, req.params.stop_strings)

        def on_token(_row: int, tok_id: int):
            piece = pieces.push(tok_id)
            if piece and not send({"content": piece}):
                return False
            return not (pieces.stopped or self.server.closing.is_set())

        c = lm.generator.complete([req.prompt], req.params, on_tokens=on_token)[0]
        if gone.is_set():
            return
        rest = pieces.flush()
        if rest:
            send({"content": rest})
        send({}, "stop" if pieces.stopped or c.finish_reason == "stop" else "length")
        if req.include_usage:
            try:
                usage_chunk = {**base, "choices": [], "usage": self._usage(req, len(c.ids))}
                self.wfile.write(f"data: {json.dumps(usage_chunk)}\n\n".encode())
            except (BrokenPipeError, ConnectionResetError):
                return
        try:
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass


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


def make_server(lm: LoadedModel, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None) -> ChatServer:
    from engine.errors import UserError
    try:
        return ChatServer(lm, (host, port), api_key)
    except OSError as e:  # port taken, address not on this machine, no permission for a low port
        raise UserError(f"cannot listen on {host}:{port} ({e.strerror or e})",
                        "pick another port, or stop the program that holds this one", kind="config") from None


def serve_http(lm: LoadedModel, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None) -> int:
    """Serve until interrupted (Ctrl-C). Returns the exit code. On the CPU replies decode in fp32: bf16 autocast
    there re-casts every weight at every op and measured 2-3x slower per token."""
    device = lm.rt.describe()
    if lm.rt.device.type == "cpu":
        lm.generator.autocast = contextlib.nullcontext
        device = device.rsplit(" · ", 1)[0] + " · fp32"
    server = make_server(lm, host, port, api_key)
    real_host, real_port = server.server_address[:2]
    print(f"serving {server.model_id} ({device}) at http://{real_host}:{real_port}/v1 "
          "- OpenAI-compatible; Ctrl-C stops", file=sys.stderr, flush=True)
    if host not in ("127.0.0.1", "localhost", "::1") and not api_key:
        print("warning: listening beyond this machine without an API key; anyone who can reach it can use it",
              file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
