"""The engine <-> studio wire format: one JSON object per line, versioned. No torch, no Qt.

Engine -> studio events carry "v", "event" and "t"; studio -> engine commands carry "cmd".
This module builds, encodes and parses those lines and knows nothing about training.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROTOCOL_VERSION = 1

EVENTS = (
    "hello", "config", "progress", "step", "eval", "sample", "checkpoint", "log",
    "paused", "resumed", "error", "done",
    # chat server
    "ready", "token",
)
COMMANDS = ("pause", "resume", "stop", "save", "generate", "cancel")
RUN_COMMANDS = ("pause", "resume", "save", "stop")     # what a training run accepts (stdin or its control folder)
CONTROL_DIR = "control"                                # <run>/control/: one JSON file per command
DONE_STATUSES = ("completed", "stopped", "failed")


class ProtocolError(ValueError):
    """A line that is not a valid protocol object."""


@dataclass(frozen=True)
class Event:
    """One engine -> studio message. `data` holds every field except v / event / t."""

    event: str
    t: float
    data: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def to_dict(self) -> dict[str, Any]:
        return {"v": PROTOCOL_VERSION, "event": self.event, "t": self.t, **self.data}


def make_event(event: str, **data: Any) -> dict[str, Any]:
    """A ready-to-encode event dict, stamped with the protocol version and the time."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    return {"v": PROTOCOL_VERSION, "event": event, "t": round(time.time(), 3), **data}


def encode(obj: dict[str, Any]) -> str:
    """One line of JSON (no newline). NaN and inf become null so every reader can parse it."""
    return json.dumps(_finite(obj), ensure_ascii=False, separators=(",", ":"))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def parse_event(line: str) -> Event:
    """Parse one stdout line from an engine. Raises ProtocolError for anything that is not an event."""
    line = line.strip()
    if not line:
        raise ProtocolError("empty line")
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise ProtocolError(f"not JSON: {e.msg} at column {e.colno}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("not a JSON object")
    if obj.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(f"unsupported protocol version {obj.get('v')!r} (this studio speaks {PROTOCOL_VERSION})")
    name = obj.get("event")
    if not isinstance(name, str):
        raise ProtocolError("missing 'event'")
    t = obj.get("t")
    data = {k: v for k, v in obj.items() if k not in ("v", "event", "t")}
    return Event(event=name, t=float(t) if isinstance(t, (int, float)) else 0.0, data=data)


def make_command(cmd: str, **data: Any) -> dict[str, Any]:
    if cmd not in COMMANDS:
        raise ValueError(f"unknown command {cmd!r}")
    return {"cmd": cmd, **data}


def parse_command(line: str) -> dict[str, Any]:
    """Parse one stdin line sent to an engine. Raises ProtocolError with a readable reason."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise ProtocolError(f"command is not JSON: {e.msg}") from None
    if not isinstance(obj, dict) or obj.get("cmd") not in COMMANDS:
        raise ProtocolError(f"unknown command {line.strip()[:80]!r}; expected one of {', '.join(COMMANDS)}")
    return obj


def read_events_file(path) -> list[Event]:
    """Every valid event in an events.jsonl; a torn last line (crash mid-write) is skipped."""
    events = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                events.append(parse_event(line))
            except ProtocolError:
                continue
    return events


def control_dir(run_dir) -> Path:
    return Path(run_dir) / CONTROL_DIR


def write_control_command(run_dir, cmd: str) -> Path:
    """Give a run's engine `cmd` through its folder: one file, renamed into place so it is never read half-written.

    The engine polls `<run>/control/` between steps and while paused (engine/control.py) and deletes what it took.
    """
    if cmd not in RUN_COMMANDS:
        raise ValueError(f"unknown run command {cmd!r}; expected one of {', '.join(RUN_COMMANDS)}")
    folder = control_dir(run_dir)
    folder.mkdir(exist_ok=True)
    name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.json"  # names sort in the order given
    tmp = folder / f".{name}.tmp"
    tmp.write_text(json.dumps({"cmd": cmd}) + "\n", encoding="utf-8")
    os.replace(tmp, folder / name)
    return folder / name
