"""The engine <-> studio wire format: one JSON object per line, versioned. No torch, no Qt.

Engine -> studio events carry "v", "event" and "t"; studio -> engine commands carry "cmd". Each event has one
typed definition here (HelloEvent, StepEvent, ...). This module builds, encodes and parses those lines, and writes
commands into a run folder's control channel; it knows nothing about training.
"""

from __future__ import annotations

import functools
import json
import os
import time
import uuid
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

PROTOCOL_VERSION = 1

EVENTS = (
    "hello", "config", "progress", "step", "eval", "sample", "checkpoint", "log",
    "paused", "resumed", "error", "done", "batch",
    # chat server
    "ready", "token", "inspect",
)
COMMANDS = ("pause", "resume", "stop", "save", "generate", "cancel", "inspect")
RUN_COMMANDS = ("pause", "resume", "save", "stop")     # what a training run accepts (stdin or its control folder)
CONTROL_DIR = "control"                                # <run>/control/: one JSON file per command
DONE_STATUSES = ("completed", "stopped", "failed")


@dataclass(frozen=True)
class SamplingDefaults:
    """How a reply is sampled when the request leaves a setting out: the one definition behind `minigpt chat`,
    `minigpt generate`, the chat server (`serve --stdio`, the `generate` command's params) and the studio's Chat
    controls. `serve --http` keeps the OpenAI API's own defaults, which its clients expect."""

    max_new_tokens: int = 256
    """The longest reply, in tokens (the server also keeps it within half the model's context)."""
    temperature: float = 0.7
    """0 = greedy; higher is more random."""
    top_k: int = 50
    """Sample among the k likeliest tokens only (0 = off)."""
    top_p: float = 0.95
    """Sample from the smallest set of tokens whose probability reaches p (1 = off)."""
    min_p: float = 0.0
    """Drop tokens less likely than min_p times the likeliest one (0 = off)."""
    repetition_penalty: float = 1.1
    """Above 1 makes tokens already in the conversation less likely: small models loop without it."""
    seed: int | None = None
    """A fixed seed repeats a reply; None samples afresh."""


SAMPLING_DEFAULTS = SamplingDefaults()


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


# ---------------------------------------------------------------------- one typed definition per event
# The fields each event carries, with their JSON types. Readers build these with `typed(ev)` (a field that is missing
# or of the wrong type reads as its default, so an old or damaged events.jsonl never raises); `schema_problems`
# checks an event line against them (tests run it over real engine output). `REQUIRED` names what the engine
# always sends. NaN and inf are written as null, hence `float | None` for measured values.

@dataclass(frozen=True)
class HelloEvent:
    """A process started: training (`minigpt train`) or a tokenizer job."""
    REQUIRED: ClassVar[tuple[str, ...]] = ("engine_version", "pid", "device")
    engine_version: str = ""
    pid: int = 0
    device: str = ""
    device_type: str = ""
    precision: str = ""
    run_dir: str = ""
    resumed: bool = False
    resume_step: int | None = None


@dataclass(frozen=True)
class ConfigEvent:
    """The resolved run config (what run.yaml holds) and the model's size."""
    REQUIRED: ClassVar[tuple[str, ...]] = ("config",)
    config: dict = field(default_factory=dict)
    params: int = 0
    params_non_embedding: int = 0
    params_active: int = 0            # parameters one token passes through (MoE: less than params; dense: equal)
    tokens_per_step: int = 0


@dataclass(frozen=True)
class ProgressEvent:
    """Work before the first step: tokenizer training, pretokenization, auto batch search. total 0 = unknown."""
    REQUIRED: ClassVar[tuple[str, ...]] = ("phase", "done")
    phase: str = ""
    done: int = 0
    total: int | None = None


@dataclass(frozen=True)
class StepEvent:
    """One logged optimizer step. Stage-specific numbers (reward, kl, aux_loss, ...) are the extra fields."""
    REQUIRED: ClassVar[tuple[str, ...]] = ("step", "total_steps", "loss", "lr")
    EXTRA: ClassVar[tuple[type, ...]] = (int, float, type(None))  # the type any further field must have
    step: int = 0
    total_steps: int = 0
    epoch: float = 0.0
    loss: float | None = None
    lr: float = 0.0
    grad_norm: float | None = None
    tokens_seen: int = 0
    tokens_per_s: float = 0.0
    eta_s: float | None = None
    mem_allocated: int = 0
    mem_reserved: int = 0
    mem_peak: int = 0
    mem_kind: str = ""                # cuda | mps | rss (on the CPU the memory fields are the process's RSS)
    # MoE models only, averaged over the step: the load-balancing and router z-losses (before their coefficients)
    # and each expert's share of the routed token slots (sums to 1; averaged over the MoE layers).
    aux_loss: float | None = None
    z_loss: float | None = None
    expert_load: list = field(default_factory=list)


@dataclass(frozen=True)
class BatchEvent:
    """The micro-batch a run trains with: each try of the run.batch_size: auto search (phase probe), its choice
    (chosen), and a halving after running out of memory mid-run (backoff, with the step it happened at)."""
    REQUIRED: ClassVar[tuple[str, ...]] = ("phase", "micro_batch", "grad_accum", "message")
    phase: str = ""                   # probe | chosen | backoff
    micro_batch: int = 0              # sequences (pairs, replies) per forward pass
    grad_accum: int = 0               # micro-batches per optimizer step
    message: str = ""                 # one readable line saying what happened
    fits: bool | None = None          # probe: whether the step stayed within the budget
    peak_bytes: int | None = None     # probe: the step's measured peak memory
    budget_bytes: int | None = None   # what hardware.memory_fraction allows
    step: int | None = None           # backoff: the step that ran out of memory (it is repeated)


@dataclass(frozen=True)
class EvalEvent:
    REQUIRED: ClassVar[tuple[str, ...]] = ("step", "val_loss", "metrics")
    step: int = 0
    val_loss: float | None = None     # null: no validation data
    ppl: float | None = None
    metrics: dict = field(default_factory=dict)   # accuracy, acc_<task> on the built-in checkable tasks


@dataclass(frozen=True)
class SampleEvent:
    REQUIRED: ClassVar[tuple[str, ...]] = ("step", "prompt", "completion")
    step: int = 0
    prompt: str = ""
    completion: str = ""


@dataclass(frozen=True)
class CheckpointEvent:
    REQUIRED: ClassVar[tuple[str, ...]] = ("step", "path", "reason")
    step: int = 0
    path: str = ""
    reason: str = ""                  # periodic | best | final | manual | stop
    val_loss: float | None = None


@dataclass(frozen=True)
class LogEvent:
    REQUIRED: ClassVar[tuple[str, ...]] = ("level", "message")
    level: str = "info"
    message: str = ""


@dataclass(frozen=True)
class PausedEvent:
    REQUIRED: ClassVar[tuple[str, ...]] = ("step",)
    step: int = 0


@dataclass(frozen=True)
class ResumedEvent:
    REQUIRED: ClassVar[tuple[str, ...]] = ("step",)
    step: int = 0


@dataclass(frozen=True)
class ErrorEvent:
    """A failure: of the run (then `done` follows), or of one chat request (`id` set; the server keeps going)."""
    REQUIRED: ClassVar[tuple[str, ...]] = ("kind", "message")
    kind: str = ""
    message: str = ""
    hint: str | None = ""
    traceback: str | None = None
    id: int | str | None = None


@dataclass(frozen=True)
class DoneEvent:
    """The end of a run (status, summary), or of one chat reply (`id`, status, stats)."""
    REQUIRED: ClassVar[tuple[str, ...]] = ("status",)
    status: str = "completed"         # completed | stopped | failed; a chat reply: completed | cancelled
    summary: dict = field(default_factory=dict)
    id: int | str | None = None
    stats: dict = field(default_factory=dict)  # prompt_tokens, completion_tokens, tokens_per_s, time_to_first_token


@dataclass(frozen=True)
class ReadyEvent:
    """The chat server (`minigpt serve --stdio`) loaded its checkpoint and takes `generate` commands."""
    REQUIRED: ClassVar[tuple[str, ...]] = ("checkpoint", "device")
    checkpoint: str = ""
    device: str = ""
    step: int | None = None
    stage: str | None = None
    params: int = 0
    max_seq_len: int = 0


@dataclass(frozen=True)
class TokenEvent:
    """A piece of a streamed chat reply (whole characters only)."""
    REQUIRED: ClassVar[tuple[str, ...]] = ("id", "text")
    id: int | str | None = None
    text: str = ""


@dataclass(frozen=True)
class InspectEvent:
    """A finished reply looked at (`inspect`): every token {"id", "text", "reply"}, reply tokens with "prob" and
    "top" ([{"id", "text", "prob"}] of the model's likeliest alternatives, temperature 1); and `attention`: for
    each reply token, the chosen layer's weights (head `head`, or the heads' mean when null) from the position that
    chose it over every token before."""
    REQUIRED: ClassVar[tuple[str, ...]] = ("id", "tokens", "attention")
    id: int | str | None = None
    tokens: list = field(default_factory=list)
    reply_start: int = 0
    layer: int = 0
    head: int | None = None
    attention: list = field(default_factory=list)
    n_layer: int = 0
    n_head: int = 0


EVENT_TYPES: dict[str, type] = {
    "hello": HelloEvent, "config": ConfigEvent, "progress": ProgressEvent, "step": StepEvent, "eval": EvalEvent,
    "sample": SampleEvent, "checkpoint": CheckpointEvent, "log": LogEvent, "paused": PausedEvent,
    "resumed": ResumedEvent, "error": ErrorEvent, "done": DoneEvent, "ready": ReadyEvent, "token": TokenEvent,
    "batch": BatchEvent,
    "inspect": InspectEvent,
}
_JSON_TYPES = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,), "dict": (dict,),
               "list": (list,), "None": (type(None),)}


@functools.cache
def _field_types(cls: type) -> dict[str, tuple[type, ...]]:
    """{field: accepted Python types}, from annotations such as "int | None" (bool is not an int here)."""
    out = {}
    for f in fields(cls):
        out[f.name] = tuple(t for part in str(f.type).split("|") for t in _JSON_TYPES[part.strip()])
    return out


def _fits(value: Any, types: tuple[type, ...]) -> bool:
    return isinstance(value, types) and not (isinstance(value, bool) and bool not in types)


def typed(ev: Event) -> Any:
    """The event as its dataclass (HelloEvent, StepEvent, ...); unknown events give None."""
    cls = EVENT_TYPES.get(ev.event)
    if cls is None:
        return None
    kinds = _field_types(cls)
    return cls(**{k: v for k, v in ev.data.items() if k in kinds and _fits(v, kinds[k])})


def step_extras(ev: Event) -> dict[str, float]:
    """A step event's stage-specific numbers (reward, kl, aux_loss, ...): the fields StepEvent does not name."""
    known = _field_types(StepEvent)
    return {k: float(v) for k, v in ev.data.items()
            if k not in known and isinstance(v, (int, float)) and not isinstance(v, bool)}


def schema_problems(obj: dict[str, Any]) -> list[str]:
    """What is wrong with one event object against its definition: unknown event, missing or mistyped field."""
    name = obj.get("event")
    cls = EVENT_TYPES.get(name)
    if obj.get("v") != PROTOCOL_VERSION or not isinstance(obj.get("t"), (int, float)):
        return [f"{name}: missing v={PROTOCOL_VERSION} or a numeric t"]
    if cls is None:
        return [f"unknown event {name!r}"]
    kinds = _field_types(cls)
    problems = [f"{name}: missing {k!r}" for k in cls.REQUIRED if k not in obj]
    for k, v in obj.items():
        if k in ("v", "event", "t"):
            continue
        if k in kinds:
            if not _fits(v, kinds[k]):
                problems.append(f"{name}.{k}: {type(v).__name__} {v!r:.40} is not {cls.__dataclass_fields__[k].type}")
        elif not (getattr(cls, "EXTRA", None) and _fits(v, cls.EXTRA)):
            problems.append(f"{name}: field {k!r} is not in {cls.__name__}")
    return problems


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
        raise ProtocolError(f"not JSON: {e.msg.removesuffix(' at')} at column {e.colno}") from None
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
