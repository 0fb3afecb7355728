"""What stands between the network and the chat app: the API key, the request-size limit and the time a client may
take to send its request (headers and body), and JSON error responses in OpenAI's shape for all of them.

An ASGI middleware for the key, size and body-read limits, and an h11 protocol for the header deadline (uvicorn
itself times out only idle kept-alive connections, so a client that dribbles a header byte at a time is dropped here).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json

from starlette.exceptions import HTTPException
from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_BODY = 1 << 20        # bytes of JSON a request may carry
READ_TIMEOUT = 10.0       # seconds a client may take to send its request line and headers, and then its body
MAX_CONNECTIONS = 256     # open connections; one more is answered 503 and closed

ERROR_TYPES = {401: "authentication_error", 429: "rate_limit_error", 500: "server_error", 503: "server_busy"}


def error_response_bytes(status: int, message: str, type: str | None = None, param: str | None = None,
                         code: str | None = None) -> bytes:
    """OpenAI's error body. ASCII-escaped, so no text a client sent (a lone surrogate) can break the encoding."""
    body = {"error": {"message": message, "type": type or ERROR_TYPES.get(status, "invalid_request_error"),
                      "param": param, "code": code}}
    return json.dumps(body).encode("ascii")


class BodyTooLarge(HTTPException):
    def __init__(self, size: str):
        super().__init__(413, f"the request body is {size}; the limit is {MAX_BODY} bytes")


class SlowBody(HTTPException):
    def __init__(self):
        super().__init__(408, f"the request body did not arrive within {READ_TIMEOUT:g} s")


class RequestGuard:
    """ASGI middleware: refuses a wrong API key (401) and a too-large body (413) before reading it, and ends a
    body that arrives too slowly (408). FastAPI re-raises these HTTPExceptions from the body read unchanged."""

    def __init__(self, app, api_key: str | None = None, max_body: int = MAX_BODY, read_timeout: float = READ_TIMEOUT):
        self.app, self.api_key, self.max_body, self.read_timeout = app, api_key, max_body, read_timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        if self.api_key:
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, f"Bearer {self.api_key}".encode()):
                return await self._refuse(send, 401, "missing or wrong API key (send Authorization: Bearer <key>)")
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                return await self._refuse(send, 400, "Content-Length is not a number")
            if int(length) > self.max_body:
                if int(length) <= 8 * self.max_body:  # read it away so the client sees the answer, not a reset
                    await self._drain(receive)
                return await self._refuse(send, 413, f"the request body is {int(length)} bytes; the limit is "
                                          f"{self.max_body} bytes")
        state = {"seen": 0, "complete": False}

        async def guarded_receive():
            if state["complete"]:
                return await receive()  # after the body: a wait for the disconnect, which may be long
            try:
                message = await asyncio.wait_for(receive(), self.read_timeout)
            except TimeoutError:
                raise SlowBody() from None
            if message["type"] == "http.request":
                state["seen"] += len(message.get("body", b""))
                state["complete"] = not message.get("more_body", False)
                if state["seen"] > self.max_body:
                    raise BodyTooLarge(f"over {self.max_body} bytes")
            return message

        await self.app(scope, guarded_receive, send)

    async def _drain(self, receive) -> None:
        with contextlib.suppress(TimeoutError):
            while True:
                message = await asyncio.wait_for(receive(), self.read_timeout)
                if message["type"] != "http.request" or not message.get("more_body", False):
                    return

    @staticmethod
    async def _refuse(send, status: int, message: str) -> None:
        data = error_response_bytes(status, message)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": data})


class DeadlineH11(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request head: a connection that has not sent a complete
    request line and headers within READ_TIMEOUT (of opening, or of its previous response) is closed. A connection
    beyond max_connections gets a JSON 503 at once (uvicorn's own limit answers in plain text)."""

    head_timeout = READ_TIMEOUT
    max_connections = MAX_CONNECTIONS

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._head_deadline, self._head_cycle = None, None
        if len(self.connections) > self.max_connections:
            data = error_response_bytes(503, f"the server has {self.max_connections} connections open; try again "
                                        "shortly", type="server_busy")
            transport.write(b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
                            b"connection: close\r\ncontent-length: " + str(len(data)).encode() + b"\r\n\r\n" + data)
            transport.close()
            return
        self._arm_head_deadline()

    def _arm_head_deadline(self) -> None:
        self._head_cycle = self.cycle
        self._head_deadline = self.loop.call_later(self.head_timeout, self._on_head_deadline)

    def _on_head_deadline(self) -> None:
        if self.cycle is self._head_cycle and not self.transport.is_closing():
            self.transport.close()  # still no new request head: a slow or idle client

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not self._head_cycle and self._head_deadline is not None:
            self._head_deadline.cancel()  # a new request began: its head is complete
            self._head_deadline = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            if self._head_deadline is not None:
                self._head_deadline.cancel()
            self._arm_head_deadline()

    def connection_lost(self, exc) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        super().connection_lost(exc)
