"""Hostile and careless HTTP clients against `serve --http`, table-driven so each case stays fixed: malformed or
impossible bodies get a 4xx JSON error in OpenAI's shape (never HTML, never a 500); a client that stalls, idles,
dribbles its request or leaves can neither block anyone else nor keep its reply generating. Loopback only."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import pytest

from tests.engine.inference_fixtures import build_toy

LONG = 1000   # a greedy reply the long toy never ends by itself: tens of seconds when left to run
HI = [{"role": "user", "content": "hello 7"}]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from engine.inference import load_for_inference
    from engine.serve_http import make_server
    toy = build_toy(tmp_path_factory.mktemp("hostile-toy"), max_seq_len=LONG + 64)
    srv = make_server(load_for_inference(toy.folder, "cpu"), "127.0.0.1", 0, read_timeout=1.0, send_timeout=1.0)
    # Accepted sockets inherit this: a small kernel buffer, so a client that stops reading stalls the stream soon
    # (Linux would otherwise grow the buffer to megabytes and absorb a whole toy reply).
    srv.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(10)


@pytest.fixture
def jobs(server, monkeypatch):
    """Every job the server submits to its scheduler, to see whether a reply kept generating."""
    seen, submit = [], server.scheduler.submit

    def spy(*args, **kwargs):
        seen.append(submit(*args, **kwargs))
        return seen[-1]
    monkeypatch.setattr(server.scheduler, "submit", spy)
    return seen


def request(server, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
            timeout: float = 60):
    conn = http.client.HTTPConnection(*server.server_address, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type"), resp.read()
    finally:
        conn.close()


def chat(**fields) -> bytes:
    return json.dumps({"model": "minigpt", "messages": HI, "max_tokens": 2, **fields}).encode()


def raw_chat(text: str) -> bytes:
    """A body with a hand-written JSON fragment (NaN, 1e999, escapes that json.dumps would never write)."""
    return ('{"model": "minigpt", "messages": [{"role": "user", "content": "hi"}], ' + text + '}').encode()


CASES = [  # (name, method, path, body, headers, status, words the error message holds)
    ("malformed JSON", "POST", "/v1/chat/completions", b"{not json", {}, 400, "not valid JSON"),
    ("NaN", "POST", "/v1/chat/completions", raw_chat('"temperature": NaN'), {}, 400, "temperature"),
    ("1e999", "POST", "/v1/chat/completions", raw_chat('"temperature": 1e999'), {}, 400, "temperature"),
    ("-Infinity", "POST", "/v1/chat/completions", raw_chat('"top_p": -Infinity'), {}, 400, "top_p"),
    ("lone surrogate", "POST", "/v1/chat/completions",
     b'{"messages": [{"role": "user", "content": "\\ud800"}]}', {}, 400, "surrogate"),
    ("lone surrogate model", "POST", "/v1/chat/completions", raw_chat('"model": "\\udfff"'), {}, 400, "surrogate"),
    ("invalid UTF-8", "POST", "/v1/chat/completions", b'{"messages": "\xff\xfe"}', {}, 400, ""),
    ("deep nesting", "POST", "/v1/chat/completions", b"[" * 100_000, {}, 400, ""),
    ("array body", "POST", "/v1/chat/completions", b"[]", {}, 400, ""),
    ("null body", "POST", "/v1/chat/completions", b"null", {}, 400, "messages"),
    ("string stream", "POST", "/v1/chat/completions", chat(stream="false"), {}, 400, "'stream'"),
    ("unknown model", "POST", "/v1/chat/completions", chat(model="gpt-4o"), {}, 404, "gpt-4o"),
    ("logprobs", "POST", "/v1/chat/completions", chat(logprobs=True), {}, 400, "logprobs"),
    ("tools", "POST", "/v1/chat/completions", chat(tools=[{"type": "function", "function": {"name": "f"}}]), {},
     400, "tool"),
    ("response_format", "POST", "/v1/chat/completions", chat(response_format={"type": "json_object"}), {}, 400,
     "response_format"),
    ("n=2", "POST", "/v1/chat/completions", chat(n=2), {}, 400, "n=1"),
    ("max_tokens 0", "POST", "/v1/chat/completions", chat(max_tokens=0), {}, 400, "max_tokens"),
    ("string number", "POST", "/v1/chat/completions", chat(temperature="0.5"), {}, 400, "temperature"),
    ("role robot", "POST", "/v1/chat/completions", chat(messages=[{"role": "robot", "content": "hi"}]), {}, 400,
     "messages[0].role"),
    ("message not an object", "POST", "/v1/chat/completions", chat(messages=[5]), {}, 400, "messages[0]"),
    ("messages empty", "POST", "/v1/chat/completions", chat(messages=[]), {}, 400, "messages"),
    ("huge Content-Length", "POST", "/v1/chat/completions", b"{}", {"Content-Length": str(1 << 30)}, 413, "limit"),
    ("oversized body", "POST", "/v1/chat/completions", b" " * ((1 << 20) + 10), {}, 413, "limit"),
    ("unknown path", "GET", "/v1/nothing", None, {}, 404, "no such endpoint"),
    ("wrong method", "GET", "/v1/chat/completions", None, {}, 405, "method"),
    ("unknown model card", "GET", "/v1/models/gpt-4o", None, {}, 404, "gpt-4o"),
]


@pytest.mark.parametrize("name, method, path, body, headers, status, words", CASES, ids=[c[0] for c in CASES])
def test_bad_requests_get_openai_shaped_json_errors(server, name, method, path, body, headers, status, words):
    got, kind, data = request(server, method, path, body, {"Content-Type": "application/json", **headers})
    assert got == status, data[:300]
    assert kind == "application/json"
    error = json.loads(data)["error"]
    assert words in error["message"] and error["type"] and set(error) == {"message", "type", "param", "code"}


def test_the_models_list_names_no_path_on_this_machine(server):
    _, _, data = request(server, "GET", "/v1/models")
    text = data.decode()
    assert str(server.lm.folder.parent) not in text and json.loads(text)["data"][0]["minigpt"]["checkpoint"]


def test_non_streaming_replies_carry_usage(server):
    status, _, data = request(server, "POST", "/v1/chat/completions", chat(temperature=0))
    usage = json.loads(data).get("usage") or pytest.fail(str(data))
    assert status == 200 and usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def long_request(stream: bool) -> bytes:
    return json.dumps({"model": "minigpt", "messages": HI, "max_tokens": LONG, "temperature": 0,
                       "stream": stream}).encode()


def open_raw(server, body: bytes, rcvbuf: int | None = None) -> socket.socket:
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(30)
    s.connect(server.server_address)
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    return s


def wait_until(pred, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def test_a_stalled_stream_reader_blocks_no_one_and_is_dropped(server, jobs):
    stalled = open_raw(server, long_request(stream=True), rcvbuf=1024)  # opens a long stream and never reads
    try:
        assert wait_until(lambda: jobs and len(jobs[0].out) > 5, 30)
        t0 = time.monotonic()
        status, _, data = request(server, "POST", "/v1/chat/completions", chat(max_tokens=4, temperature=0),
                                  timeout=30)
        assert status == 200 and json.loads(data)["choices"]
        assert time.monotonic() - t0 < 10, "another client waited on the stalled one"
        # The reply runs on (or is cancelled) without waiting for the reader; the stalled client is dropped after
        # the 1 s send timeout instead of being sent the rest: what it finally reads has no [DONE].
        assert wait_until(lambda: jobs[0].done.is_set(), 60)
        time.sleep(2.5)
        received = b""
        try:
            while chunk := stalled.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
        assert received.startswith(b"HTTP/1.1 200") and b"[DONE]" not in received
    finally:
        stalled.close()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_client_that_leaves_cancels_its_reply(server, jobs, stream):
    s = open_raw(server, long_request(stream))
    assert wait_until(lambda: jobs and len(jobs[0].out) > 3, 30)
    s.close()
    assert wait_until(lambda: jobs[0].done.is_set(), 5), "the reply kept generating for nobody"
    assert jobs[0].reason == "cancelled" and len(jobs[0].out) < LONG


SLOW = [  # (name, what the client sends before going quiet)
    ("idle connection", [b""]),
    ("slowloris headers", [b"POST /v1/chat/completions HTTP/1.1\r\n", b"Host: x\r\n", b"X-a: 1\r\n", b"X-b: 2\r\n",
                           b"X-c: 3\r\n", b"X-d: 4\r\n", b"X-e: 5\r\n", b"X-f: 6\r\n"]),
]


@pytest.mark.parametrize("name, pieces", SLOW, ids=[s[0] for s in SLOW])
def test_slow_or_idle_connections_are_closed(server, name, pieces):
    conns = [socket.create_connection(server.server_address, timeout=10) for _ in range(20)]
    try:
        t0 = time.monotonic()
        hung_up = set()
        for piece in pieces:  # one piece every 0.3 s: each resets an idle timer, not the request deadline
            for c in conns:
                try:
                    c.sendall(piece)
                except (BrokenPipeError, ConnectionResetError):
                    hung_up.add(c)  # the server already closed it: what this test wants
            time.sleep(0.3)
        # Meanwhile the server answers everyone else.
        assert request(server, "GET", "/v1/models", timeout=10)[0] == 200
        for c in set(conns) - hung_up:
            try:
                assert c.recv(4096) == b"", "the server should hang up"
            except ConnectionResetError:
                pass
        assert time.monotonic() - t0 < 8
    finally:
        for c in conns:
            c.close()


def test_connections_beyond_the_limit_get_a_json_503(server):
    from engine.serve_http import make_server
    small = make_server(server.lm, "127.0.0.1", 0, max_connections=3, read_timeout=5.0)
    thread = threading.Thread(target=small.serve_forever, daemon=True)
    thread.start()
    held = [socket.create_connection(small.server_address, timeout=10) for _ in range(3)]
    try:
        time.sleep(0.5)  # let the server accept the three
        status, kind, data = request(small, "GET", "/v1/models", timeout=10)
        assert status == 503 and kind == "application/json"
        assert "connections open" in json.loads(data)["error"]["message"]
        for c in held:
            c.close()
        assert wait_until(lambda: request(small, "GET", "/v1/models", timeout=10)[0] == 200, 5)
    finally:
        for c in held:
            c.close()
        small.shutdown()
        small.server_close()
        thread.join(10)


def test_a_body_that_never_arrives_gets_408(server):
    s = socket.create_connection(server.server_address, timeout=10)
    try:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n{\"messages\"")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408") and b"did not arrive" in body
    finally:
        s.close()


def test_the_server_is_healthy_after_all_that(server):
    status, _, data = request(server, "POST", "/v1/chat/completions", chat(temperature=0))
    assert status == 200 and json.loads(data)["choices"][0]["message"]["role"] == "assistant"
    assert not server.scheduler.rows and not server.scheduler.waiting
