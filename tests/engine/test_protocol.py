"""engine.protocol: the versioned JSON-lines wire format between engine and studio."""

from __future__ import annotations

import json
import math

import pytest

from engine.protocol import (
    COMMANDS,
    EVENT_TYPES,
    EVENTS,
    PROTOCOL_VERSION,
    Event,
    ProtocolError,
    StepEvent,
    encode,
    make_command,
    make_event,
    parse_command,
    parse_event,
    read_events_file,
    schema_problems,
    step_extras,
    typed,
)


def test_make_event_stamps_version_name_and_time():
    ev = make_event("step", step=3, loss=2.5)
    assert ev["v"] == PROTOCOL_VERSION == 1 and ev["event"] == "step" and isinstance(ev["t"], float)
    with pytest.raises(ValueError):
        make_event("stepp")


@pytest.mark.parametrize("event", EVENTS)
def test_encode_parse_round_trip_for_every_event(event):
    ev = make_event(event, step=1, text="你好\nworld", nested={"a": [1, 2.5, None]})
    line = encode(ev)
    assert "\n" not in line
    parsed = parse_event(line)
    assert isinstance(parsed, Event)
    assert parsed.event == event and parsed.t == ev["t"]
    assert parsed.data == {"step": 1, "text": "你好\nworld", "nested": {"a": [1, 2.5, None]}}
    assert parsed.to_dict() == ev
    assert parsed.get("step") == 1 and parsed.get("missing", 7) == 7


def test_non_ascii_is_written_as_is():
    assert "中文" in encode(make_event("log", level="info", message="中文"))


def test_nan_and_inf_become_null_everywhere():
    ev = make_event("step", loss=math.nan, lr=math.inf, grad_norm=-math.inf,
                    extra={"a": [1.0, math.nan], "b": (math.inf,)})
    line = encode(ev)
    obj = json.loads(line)  # strict JSON: no NaN / Infinity tokens
    assert "NaN" not in line and "Infinity" not in line
    assert obj["loss"] is None and obj["lr"] is None and obj["grad_norm"] is None
    assert obj["extra"] == {"a": [1.0, None], "b": [None]}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("loss 2.3 at step 4", "not JSON"),
        ('{"v": 1, "event": "step"', "not JSON"),
        ("[1, 2, 3]", "not a JSON object"),
        ('"text"', "not a JSON object"),
        ('{"v": 2, "event": "step", "t": 1}', "version"),
        ('{"event": "step", "t": 1}', "version"),
        ('{"v": 1, "t": 1}', "event"),
        ('{"v": 1, "event": 5, "t": 1}', "event"),
    ],
)
def test_parse_event_errors(line, reason):
    with pytest.raises(ProtocolError, match=reason):
        parse_event(line)


def test_parse_event_tolerates_a_missing_time_and_surrounding_whitespace():
    ev = parse_event('  {"v": 1, "event": "paused"}\r\n')
    assert ev.event == "paused" and ev.t == 0.0 and ev.data == {}


@pytest.mark.parametrize("cmd", COMMANDS)
def test_commands_round_trip(cmd):
    line = encode(make_command(cmd, id="a1"))
    assert parse_command(line) == {"cmd": cmd, "id": "a1"}


@pytest.mark.parametrize("line", ['{"cmd": "explode"}', '{"command": "stop"}', "[]", '"stop"', "{}"])
def test_parse_command_rejects_unknown_commands(line):
    with pytest.raises(ProtocolError, match="unknown command"):
        parse_command(line)


def test_parse_command_rejects_non_json():
    with pytest.raises(ProtocolError, match="not JSON"):
        parse_command("stop")
    with pytest.raises(ValueError):
        make_command("explode")


def test_read_events_file_skips_a_torn_last_line_and_garbage(tmp_path):
    path = tmp_path / "events.jsonl"
    good = [make_event("hello", engine_version="0", pid=1, device="cpu"), make_event("step", step=1, loss=3.0)]
    torn = encode(make_event("step", step=2, loss=2.9))[:17]
    path.write_text("\n".join(encode(e) for e in good) + "\nnot json at all\n\n" + torn, encoding="utf-8")
    events = read_events_file(path)
    assert [e.event for e in events] == ["hello", "step"]
    assert events[1].get("loss") == 3.0


def test_read_events_file_survives_bad_bytes(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(encode(make_event("step", step=1)).encode() + b"\n\xff\xfe\n" + encode(make_event("done",
                     status="completed")).encode() + b"\n")
    assert [e.event for e in read_events_file(path)] == ["step", "done"]


# ---------------------------------------------------------------------- typed events
def test_every_event_has_exactly_one_typed_definition():
    assert set(EVENT_TYPES) == set(EVENTS)
    for name, cls in EVENT_TYPES.items():
        assert set(cls.REQUIRED) <= set(cls.__dataclass_fields__), name
        cls()  # every field has a default: a reader never fails on a missing field


def test_typed_reads_defaults_for_missing_or_mistyped_fields():
    ev = parse_event(encode(make_event("step", step="7", loss=None, lr=1, reward=0.25, grad_norm=True)))
    step = typed(ev)
    assert isinstance(step, StepEvent)
    assert step.step == 0 and step.loss is None and step.lr == 1 and step.grad_norm is None
    assert step_extras(ev) == {"reward": 0.25}
    assert typed(Event("mystery", 0.0, {})) is None


def test_schema_problems_name_the_event_and_field():
    assert schema_problems(make_event("checkpoint", step=3, path="p", reason="manual", val_loss=None)) == []
    problems = schema_problems({**make_event("hello", pid="12", device="cpu"), "colour": "red"})
    assert "hello: missing 'engine_version'" in problems
    assert any(p.startswith("hello.pid: str") for p in problems)
    assert "hello: field 'colour' is not in HelloEvent" in problems
    assert schema_problems(make_event("step", step=1, total_steps=2, loss=1.0, lr=0.1, phase="x")) == [
        "step: field 'phase' is not in StepEvent"]


SCHEMA_RUN = ["--set", "model.d_model=32", "--set", "model.n_layer=1", "--set", "model.n_head=2",
              "--set", "model.n_kv_head=1", "--set", "tokenizer.vocab_size=300", "--set", "run.batch_size=2",
              "--set", "data.seq_len=32", "--set", "run.task_eval_items=2", "--set", "run.sample_prompts=[\"hi\"]",
              "--set", "run.sample_tokens=4", "--set", "run.eval_batches=1", "--set", "run.log_every=1",
              "--set", "hardware.threads=1", "--eval-every", "2", "--checkpoint-every", "2"]


def engine(args, workspace, stdin="", timeout=600):
    import os
    import subprocess
    import sys
    env = {**os.environ, "MINIGPT_HOME": str(workspace)}
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=timeout)


def serve_until_done(ckpt, workspace, stdin: str, wait_id, timeout=300) -> list[str]:
    """`serve --stdio` fed `stdin`, kept open until the reply `wait_id` is done (end of input cancels running
    replies at their next token), then closed. Returns every stdout line."""
    import os
    import subprocess
    import sys
    import time
    env = {**os.environ, "MINIGPT_HOME": str(workspace)}
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", str(ckpt), "--stdio"], env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    proc.stdin.write(stdin)
    proc.stdin.flush()
    lines, deadline = [], time.monotonic() + timeout
    for line in proc.stdout:
        lines.append(line)
        obj = json.loads(line)
        if obj.get("event") == "done" and obj.get("id") == wait_id or time.monotonic() > deadline:
            break
    proc.stdin.close()
    lines += proc.stdout.readlines()
    assert proc.wait(timeout=60) == 0
    return lines


def assert_schema(lines: list[str]) -> list[dict]:
    objs = [json.loads(line) for line in lines if line.strip()]
    problems = [p for obj in objs for p in schema_problems(obj)]
    assert not problems, problems
    return objs


@pytest.mark.slow
def test_real_engine_output_matches_the_typed_definitions(workspace, tmp_path):
    """Every line a real tiny run (with pause, save, resume, a failure) and `serve --stdio` print fits its type."""
    out = tmp_path / "run"
    cmds = "".join(json.dumps(make_command(c)) + "\n" for c in ("pause", "save", "resume"))
    run = engine(["train", "--stage", "pretrain", "--max-steps", "4", "--out", str(out), "--events", "jsonl",
                  *SCHEMA_RUN], workspace, stdin=cmds)
    assert run.returncode == 0, run.stderr[-2000:]
    objs = assert_schema(run.stdout.splitlines())
    seen = {o["event"] for o in objs}
    assert {"hello", "config", "progress", "step", "eval", "sample", "checkpoint", "paused", "resumed", "done"} <= seen
    assert (out / "events.jsonl").read_text(encoding="utf-8").splitlines() == run.stdout.splitlines()

    failed = engine(["train", "--stage", "pretrain", "--data", str(tmp_path / "missing.jsonl"), "--events", "jsonl",
                     "--out", str(tmp_path / "bad")], workspace)
    assert failed.returncode == 2
    assert [o["event"] for o in assert_schema(failed.stdout.splitlines())][-2:] == ["error", "done"]

    ckpt = out / "checkpoints" / "step-000004"
    requests = [make_command("generate", id=1, messages=[{"role": "user", "content": "hi"}],
                             params={"max_new_tokens": 4, "temperature": 0}),
                make_command("generate", id=2, messages=[]), make_command("cancel", id=9)]
    lines = serve_until_done(ckpt, workspace, "".join(json.dumps(r) + "\n" for r in requests) + "not json\n", 1)
    objs = assert_schema(lines)
    kinds = [o["event"] for o in objs]
    assert kinds.count("ready") == 1 and {"token", "done", "error"} <= set(kinds)
    assert kinds.index("ready") < min(i for i, k in enumerate(kinds) if k in ("token", "done"))  # replies after ready
    assert {o.get("id") for o in objs if o["event"] == "error"} >= {2}

