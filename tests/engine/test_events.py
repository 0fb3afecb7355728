"""engine.events: the event sink (stream + events.jsonl + human display) and the stdout takeover."""

from __future__ import annotations

import io
import json
import subprocess
import sys

from engine.events import EventSink, HumanDisplay, NullSink
from engine.protocol import parse_event, read_events_file


class BrokenStream(io.StringIO):
    def write(self, s):
        raise BrokenPipeError(32, "Broken pipe")


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(x) for x in stream.getvalue().splitlines()]


def test_sink_writes_protocol_lines_to_the_stream():
    out = io.StringIO()
    sink = EventSink(stream=out)
    ev = sink.emit("step", step=1, loss=2.5)
    sink.log("hello")
    got = lines(out)
    assert got[0] == ev and got[0]["v"] == 1 and got[0]["event"] == "step"
    assert got[1]["event"] == "log" and got[1]["message"] == "hello" and got[1]["level"] == "info"
    assert all(parse_event(x) for x in out.getvalue().splitlines())


def test_events_before_attach_file_are_buffered_then_written_in_order(tmp_path):
    out = io.StringIO()
    sink = EventSink(stream=out)
    sink.emit("hello", engine_version="0", pid=1, device="cpu")
    sink.emit("config", config={"a": 1})
    path = tmp_path / "events.jsonl"
    assert not path.exists()
    sink.attach_file(path)
    sink.emit("step", step=1, loss=2.0)
    sink.close()
    assert [e.event for e in read_events_file(path)] == ["hello", "config", "step"]
    assert path.read_text(encoding="utf-8").splitlines() == out.getvalue().splitlines()


def test_attach_file_appends_to_an_existing_events_file(tmp_path):
    path = tmp_path / "events.jsonl"
    first = EventSink()
    first.attach_file(path)
    first.emit("done", status="stopped", summary={})
    first.close()
    second = EventSink()
    second.attach_file(path)  # a resumed run keeps the earlier history
    second.emit("resumed")
    second.close()
    assert [e.event for e in read_events_file(path)] == ["done", "resumed"]


def test_broken_stream_does_not_stop_the_file(tmp_path):
    sink = EventSink(stream=BrokenStream())
    sink.attach_file(tmp_path / "events.jsonl")
    sink.emit("step", step=1, loss=2.0)
    sink.emit("step", step=2, loss=1.9)
    sink.close()
    assert [e.get("step") for e in read_events_file(tmp_path / "events.jsonl")] == [1, 2]


def test_closed_stream_does_not_stop_the_file(tmp_path):
    out = io.StringIO()
    sink = EventSink(stream=out)
    sink.attach_file(tmp_path / "events.jsonl")
    out.close()
    sink.emit("step", step=1, loss=2.0)
    sink.close()
    assert len(read_events_file(tmp_path / "events.jsonl")) == 1


def test_nan_loss_is_written_as_null(tmp_path):
    out = io.StringIO()
    EventSink(stream=out).emit("step", step=1, loss=float("nan"))
    assert lines(out)[0]["loss"] is None


def test_display_receives_every_event():
    shown = io.StringIO()
    sink = EventSink(display=HumanDisplay(shown))
    sink.emit("step", step=5, total_steps=100, loss=2.34567, lr=1e-3, grad_norm=0.5, tokens_per_s=12345.6,
              eta_s=120)
    sink.emit("eval", step=5, val_loss=2.5, ppl=12.18, metrics={"accuracy": 0.25, "note": "x"})
    text = shown.getvalue()
    assert "step      5/100" in text and "loss 2.3457" in text and "lr 1.00e-03" in text
    assert "12,346 tok/s" in text and "eta 2.0 min" in text
    assert "eval @ 5: val_loss 2.5000  ppl 12.18  accuracy 0.250" in text and "note" not in text


def test_human_display_renders_step_and_eval_with_missing_optional_fields():
    step = HumanDisplay.render({"event": "step", "t": 0, "step": 1, "total_steps": 2, "loss": 3.0, "lr": 0.1,
                                "tokens_per_s": 10, "grad_norm": None, "eta_s": None})
    assert step.startswith("step      1/2") and "grad 0.00" in step
    ev = HumanDisplay.render({"event": "eval", "t": 0, "step": 2, "val_loss": 1.0, "ppl": 2.72})
    assert ev == "eval @ 2: val_loss 1.0000  ppl 2.72"
    rl = HumanDisplay.render({"event": "eval", "t": 0, "step": 2, "val_loss": -0.5, "ppl": float("nan"),
                              "metrics": {"reward": 0.5}})
    assert rl == "eval @ 2: val_loss -0.5000  reward 0.500"      # no "ppl nan" for a stage with no token loss


def test_human_display_other_events():
    r = HumanDisplay.render
    assert r({"event": "checkpoint", "t": 0, "step": 1, "path": "/x", "reason": "final"}) == "checkpoint (final): /x"
    assert r({"event": "log", "t": 0, "level": "warning", "message": "m"}) == "[warning] m"
    assert r({"event": "done", "t": 0, "status": "completed"}) == "done: completed"
    assert r({"event": "progress", "t": 0, "phase": "pretokenize", "done": 50, "total": 200}) == \
        "pretokenize: 25% (50/200)"
    assert r({"event": "error", "t": 0, "kind": "config", "message": "m"}) == ""


def test_human_display_throttles_progress_but_shows_the_last_one():
    out = io.StringIO()
    d = HumanDisplay(out)
    for i, t in enumerate([10.0, 10.1, 10.2, 11.5]):
        d.show({"event": "progress", "t": t, "phase": "p", "done": i, "total": 10})
    d.show({"event": "progress", "t": 11.6, "phase": "p", "done": 10, "total": 10})
    assert out.getvalue().splitlines() == ["p: 0% (0/10)", "p: 30% (3/10)", "p: 100% (10/10)"]


def test_null_sink_writes_nothing(tmp_path):
    sink = NullSink()
    sink.attach_file(tmp_path / "events.jsonl")
    assert sink.emit("step", step=1)["event"] == "step"
    sink.close()
    assert (tmp_path / "events.jsonl").read_text() == ""


def test_take_stdout_keeps_stray_prints_out_of_the_protocol_stream():
    code = (
        "import os, sys\n"
        "from engine.events import EventSink, take_stdout\n"
        "out = take_stdout()\n"
        "print('stray print')\n"
        "os.write(1, b'stray fd write\\n')\n"
        "EventSink(stream=out).emit('log', level='info', message='proto')\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert [json.loads(x)["message"] for x in res.stdout.splitlines()] == ["proto"]
    assert "stray print" in res.stderr and "stray fd write" in res.stderr
