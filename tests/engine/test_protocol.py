"""engine.protocol: the versioned JSON-lines wire format between engine and studio."""

from __future__ import annotations

import json
import math

import pytest

from engine.protocol import (
    COMMANDS,
    EVENTS,
    PROTOCOL_VERSION,
    Event,
    ProtocolError,
    encode,
    make_command,
    make_event,
    parse_command,
    parse_event,
    read_events_file,
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
