"""`serve --stdio`: replies stream as token events; stop, cancel (running or waiting) and the end of stdin end replies
at their next token; bad requests are refused by field name; a chat cut to fit says how much was dropped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from inference_fixtures import build_toy

from engine.commands import CommandQueue
from engine.events import EventSink
from engine.serve import serve_stdio

LONG = 1900  # tokens the long toy's greedy reply runs for without stopping (tens of seconds on a busy CPU)
HI = [{"role": "user", "content": "hello 7"}]


@pytest.fixture(scope="module")
def long_toy(tmp_path_factory):
    return build_toy(tmp_path_factory.mktemp("long-toy"), max_seq_len=2048)


@pytest.fixture(scope="module")
def long_lm(long_toy):
    from engine.inference import load_for_inference
    return load_for_inference(long_toy.folder, "cpu")


class Recorder(EventSink):
    def __init__(self):
        super().__init__()
        self.events: list[dict] = []
        self.cv = threading.Condition()

    def emit(self, event: str, **data):
        with self.cv:
            self.events.append({"event": event, **data})
            self.cv.notify_all()
        return data

    def wait_for(self, pred, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                hit = next((e for e in self.events if pred(e)), None)
                if hit is not None or time.monotonic() > deadline:
                    assert hit is not None, f"timed out; events: {self.events[-5:]}"
                    return hit
                self.cv.wait(0.1)


class Session:
    def __init__(self, lm, max_batch: int = 8):
        self.commands, self.sink, self.code = CommandQueue(), Recorder(), None
        self.thread = threading.Thread(target=self._run, args=(lm, max_batch), daemon=True)
        self.thread.start()

    def _run(self, lm, max_batch):
        self.code = serve_stdio(lm, self.sink, self.commands, max_batch=max_batch)

    def send(self, cmd: str, **data):
        self.commands.put(cmd, **data)

    def close(self):
        self.send("stop")
        self.thread.join(30)


@pytest.fixture
def session(long_lm):
    s = Session(long_lm)
    yield s
    s.close()


def test_a_reply_streams_tokens_then_done(session):
    session.send("generate", id=1, messages=HI, params={"max_new_tokens": 8, "temperature": 0})
    done = session.sink.wait_for(lambda e: e["event"] == "done" and e["id"] == 1)
    tokens = [e for e in session.sink.events if e["event"] == "token" and e["id"] == 1]
    assert done["status"] == "completed" and tokens
    assert done["stats"]["completion_tokens"] == 8 and done["stats"]["dropped_tokens"] == 0


BAD = [
    ({"id": 1, "messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role is 'robot'"),
    ({"id": 1, "messages": [5]}, "messages[0] must be an object"),
    ({"id": 1, "messages": "hi"}, "'messages' must be a non-empty list"),
    ({"id": 1, "messages": [{"role": "user", "content": 5}]}, "messages[0].content must be text"),
    ({"id": 1, "messages": HI, "params": "hot"}, "'params' must be an object"),
    ({"id": 1, "messages": HI, "params": {"temperature": "hot"}}, "params.temperature must be a number"),
    ({"id": 1, "messages": HI, "params": {"temperature": -1}}, "params.temperature=-1.0"),
    ({"id": 1, "messages": HI, "params": {"max_new_tokens": 2.5}}, "params.max_new_tokens must be a whole number"),
    ({"id": 1, "messages": HI, "params": {"top_q": 1}}, "params.top_q is not a sampling setting"),
    ({"messages": HI}, "'id' is missing"),
    ({"id": [1], "messages": HI}, "'id' must be text or a number"),
]


@pytest.mark.parametrize("command, expected", BAD, ids=[b[1] for b in BAD])
def test_bad_generate_requests_name_the_field(session, command, expected):
    session.send("generate", **command)
    err = session.sink.wait_for(lambda e: e["event"] == "error")
    assert expected in err["message"] and "attribute" not in err["message"]
    session.send("generate", id="after", messages=HI, params={"max_new_tokens": 2})  # still serving
    session.sink.wait_for(lambda e: e["event"] == "done" and e["id"] == "after")


@pytest.mark.parametrize("cmd", ["pause", "save", "resume"])
def test_training_commands_are_refused_plainly(session, cmd):
    session.send(cmd)
    err = session.sink.wait_for(lambda e: e["event"] == "error")
    assert f"'{cmd}' is not supported by the chat server" in err["message"]


def test_a_chat_cut_to_fit_says_how_many_tokens_were_dropped(session, long_lm):
    chat = [{"role": "user", "content": "hello " * 2500}]
    full = len(long_lm.tok.encode_chat(chat, add_generation_prompt=True)[0])
    session.send("generate", id=7, messages=chat, params={"max_new_tokens": 4, "temperature": 0})
    note = session.sink.wait_for(lambda e: e["event"] == "log" and e.get("id") == 7)
    done = session.sink.wait_for(lambda e: e["event"] == "done" and e["id"] == 7)
    dropped = full - done["stats"]["prompt_tokens"]
    assert dropped > 0 and done["stats"]["dropped_tokens"] == dropped
    assert f"the oldest {dropped} tokens were dropped" in note["message"]


def test_cancel_ends_a_waiting_and_a_running_reply_and_stop_ends_the_rest(long_lm):
    s = Session(long_lm, max_batch=1)  # one at a time: the second reply waits
    try:
        for i in (1, 2, 3):
            s.send("generate", id=i, messages=HI, params={"max_new_tokens": LONG, "temperature": 0})
        s.sink.wait_for(lambda e: e["event"] == "token" and e["id"] == 1)
        t0 = time.monotonic()
        s.send("cancel", id=2)
        done2 = s.sink.wait_for(lambda e: e["event"] == "done" and e["id"] == 2, timeout=10)
        assert done2["status"] == "cancelled" and done2["stats"]["completion_tokens"] == 0
        s.send("cancel", id=1)
        done1 = s.sink.wait_for(lambda e: e["event"] == "done" and e["id"] == 1, timeout=10)
        assert done1["status"] == "cancelled" and done1["stats"]["completion_tokens"] < LONG
        s.sink.wait_for(lambda e: e["event"] == "token" and e["id"] == 3)
        s.send("stop")
        s.thread.join(10)
        assert not s.thread.is_alive() and s.code == 0
        done3 = s.sink.wait_for(lambda e: e["event"] == "done" and e["id"] == 3, timeout=1)
        assert done3["status"] == "cancelled" and done3["stats"]["completion_tokens"] < LONG
        assert time.monotonic() - t0 < 20, "each cancel should land within a token or two"
    finally:
        s.close()


def test_end_of_stdin_cancels_the_running_reply_and_exits(long_toy, tmp_path):
    env = {**os.environ, "MINIGPT_HOME": str(tmp_path),
           "PYTHONPATH": str(Path(__file__).resolve().parents[2]) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", str(long_toy.folder), "--stdio",
                             "--device", "cpu"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        assert json.loads(proc.stdout.readline())["event"] == "ready"
        proc.stdin.write(json.dumps({"cmd": "generate", "id": 1, "messages": HI,
                                     "params": {"max_new_tokens": LONG, "temperature": 0}}) + "\n")
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline())["event"] == "token"
        proc.stdin.close()
        t0 = time.monotonic()
        assert proc.wait(timeout=30) == 0
        waited = time.monotonic() - t0
        events = [json.loads(line) for line in proc.stdout.read().splitlines() if line.strip()]
        assert events[-1]["event"] == "done" and events[-1]["status"] == "cancelled"
        assert events[-1]["stats"]["completion_tokens"] < LONG and waited < 15
    finally:
        proc.kill()
        proc.wait()
