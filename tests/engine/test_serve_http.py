"""`serve --http`: the official openai client gets streamed and whole chat completions from the toy checkpoint,
malformed or oversized requests get 4xx JSON errors, and concurrent streams each get their own reply."""

from __future__ import annotations

import http.client
import json
import threading

import openai
import pytest
from inference_fixtures import *  # noqa: F403 - the toy / toy_lm session fixtures

from engine.errors import UserError
from engine.serve_http import MAX_BODY, make_server, parse_address
from engine.stop_trim import StopTrimmer

HELLO = [{"role": "user", "content": "hello 7"}]
MODEL = "minigpt"  # the alias every server answers to besides its run name


@pytest.fixture(scope="module")
def server(toy_lm):
    srv = make_server(toy_lm, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(10)


@pytest.fixture(scope="module")
def client(server):
    host, port = server.server_address[:2]
    c = openai.OpenAI(base_url=f"http://{host}:{port}/v1", api_key="unused", max_retries=0, timeout=30)
    yield c
    c.close()  # let the server's keep-alive handler threads finish before the session ends


def raw(server, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, json.loads(data)


def test_models_lists_the_checkpoint(client, server):
    models = client.models.list().data
    assert [m.id for m in models] == [server.model_id]


def test_non_streaming_completion(client, toy_lm):
    r = client.chat.completions.create(model=MODEL, messages=HELLO, temperature=0, max_tokens=12)
    choice = r.choices[0]
    assert choice.message.role == "assistant" and isinstance(choice.message.content, str)
    assert choice.finish_reason in ("stop", "length")
    assert r.usage.prompt_tokens == len(toy_lm.tok.encode_chat(HELLO, add_generation_prompt=True)[0])
    assert 0 < r.usage.completion_tokens <= 12 or choice.finish_reason == "stop"
    again = client.chat.completions.create(model=MODEL, messages=HELLO, temperature=0, max_tokens=12)
    assert again.choices[0].message.content == choice.message.content


def test_streaming_matches_non_streaming(client):
    whole = client.chat.completions.create(model=MODEL, messages=HELLO, temperature=0, max_tokens=16)
    stream = client.chat.completions.create(model=MODEL, messages=HELLO, temperature=0, max_tokens=16, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason]
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_stop_strings_are_cut_in_both_modes(client):
    same = dict(model=MODEL, messages=HELLO, temperature=1.0, seed=11, max_tokens=24)  # seeded: same tokens each time
    free = client.chat.completions.create(**same)
    text = free.choices[0].message.content
    stop = text[len(text) // 2:len(text) // 2 + 2]
    assert stop.strip(), f"need a visible stop string in {text!r}"
    cut = text[:text.find(stop)]
    whole = client.chat.completions.create(**same, stop=[stop])
    assert whole.choices[0].message.content == cut and whole.choices[0].finish_reason == "stop"
    stream = client.chat.completions.create(**same, stop=stop, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == cut


def test_malformed_requests_get_4xx_json(client, server, toy_lm):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model=MODEL, messages=[{"role": "wizard", "content": "hi"}])
    assert err.value.status_code == 400
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=MODEL, messages=HELLO, temperature=7)
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hello " * 500}])
    assert err.value.code == "context_length_exceeded"
    status, body = raw(server, "POST", "/v1/chat/completions", b"{not json", {"Content-Type": "application/json"})
    assert status == 400 and "JSON" in body["error"]["message"]
    status, body = raw(server, "POST", "/v1/chat/completions", b"x" * (MAX_BODY + 1))
    assert status == 413 and body["error"]["type"] == "invalid_request_error"
    status, _ = raw(server, "POST", "/v1/chat/completions", b"{}", {"Content-Length": str(100 * MAX_BODY)})
    assert status == 413
    assert raw(server, "POST", "/v1/chat/completions", json.dumps({"messages": []}).encode())[0] == 400
    assert raw(server, "GET", "/v1/nothing")[0] == 404
    # The server is still healthy after all that.
    assert client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=2).choices


def test_concurrent_streams_each_get_their_own_reply(client):
    expected = client.chat.completions.create(model=MODEL, messages=HELLO, temperature=0, max_tokens=20)
    results: list[str] = []
    errors: list[BaseException] = []

    def ask():
        try:
            s = client.chat.completions.create(model=MODEL, messages=HELLO, temperature=0, max_tokens=20, stream=True)
            results.append("".join(c.choices[0].delta.content or "" for c in s if c.choices))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and results == [expected.choices[0].message.content] * 4


def test_api_key_is_required_when_set(toy_lm):
    srv = make_server(toy_lm, "127.0.0.1", 0, api_key="sesame")
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        host, port = srv.server_address[:2]
        with openai.OpenAI(base_url=f"http://{host}:{port}/v1", api_key="wrong", max_retries=0) as wrong:
            with pytest.raises(openai.AuthenticationError):
                wrong.models.list()
        with openai.OpenAI(base_url=f"http://{host}:{port}/v1", api_key="sesame", max_retries=0) as ok:
            assert ok.models.list().data
    finally:
        srv.shutdown()
        srv.server_close()


def test_stop_trimmer_holds_back_possible_stop_prefixes(toy):
    tok = toy.tok
    ids = tok.encode("abc END tail")
    trimmer = StopTrimmer(tok, ["END"])
    sent = "".join(trimmer.push(i) for i in ids)
    assert sent + trimmer.flush() == "abc " and trimmer.stopped
    trimmer = StopTrimmer(tok, ["ENDX"])
    assert "".join(trimmer.push(i) for i in ids) + trimmer.flush() == "abc END tail"


def test_parse_address():
    assert parse_address("8000") == ("127.0.0.1", 8000)
    assert parse_address(":8001") == ("127.0.0.1", 8001)
    assert parse_address("0.0.0.0:9") == ("0.0.0.0", 9)
    with pytest.raises(UserError):
        parse_address("localhost:http")


def test_a_taken_port_is_a_user_error(server, toy_lm):
    with pytest.raises(UserError, match="cannot listen"):
        make_server(toy_lm, "127.0.0.1", server.server_address[1])


def test_closing_ends_idle_keep_alive_connections(toy_lm):
    srv = make_server(toy_lm, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=30)
    conn.request("GET", "/v1/models")  # the socket listens from construction: no race with the thread
    assert conn.getresponse().read()  # the connection stays open, kept alive
    done = threading.Thread(target=lambda: (srv.shutdown(), srv.server_close()))
    done.start()
    done.join(15)
    assert not done.is_alive(), "closing must not wait for clients to hang up"
    thread.join(5)
    assert not thread.is_alive() and not srv.scheduler.thread.is_alive()
    conn.close()


def test_an_engine_failure_is_a_500_and_the_server_lives_on(client, server, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")
    monkeypatch.setattr(server.scheduler, "_admit", broken)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=2)
    with pytest.raises(openai.APIError, match="internal error"):  # mid-stream: an SSE error event
        list(client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=2, stream=True))
    monkeypatch.undo()
    assert client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=2).choices
