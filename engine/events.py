"""Where a run's events go: the protocol stream on the original stdout (`--events jsonl`), the run's
events.jsonl, and a human progress display on stderr otherwise.

`take_stdout()` re-points sys.stdout (and fd 1) to stderr at start, so stray prints from libraries never
corrupt the protocol stream. The sink knows nothing about training; it only writes what it is given.
"""

from __future__ import annotations

import math
import os
import sys
import threading
from pathlib import Path
from typing import IO, Any

from engine.protocol import encode, make_event


def take_stdout() -> IO[str]:
    """Return a private handle on the real stdout and send everything else printed to stderr."""
    sys.stdout.flush()
    fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(fd, "w", encoding="utf-8", buffering=1)


class HumanDisplay:
    """A readable line per event on stderr; in a terminal, steps drive a tqdm progress bar instead."""

    def __init__(self, stream: IO[str] = sys.stderr):
        self.stream = stream
        self._last_progress = 0.0
        self._bar = None
        self._interactive = hasattr(stream, "isatty") and stream.isatty()

    def show(self, ev: dict[str, Any]) -> None:
        if self._interactive and ev["event"] == "step":
            self._update_bar(ev)
            return
        if ev["event"] == "done" and self._bar is not None:
            self._bar.close()
            self._bar = None
        if ev["event"] == "progress":  # at most one progress line a second, plus the last one
            finished = ev.get("total") and ev["done"] >= ev["total"]
            if ev["t"] - self._last_progress < 1.0 and not finished:
                return
            self._last_progress = ev["t"]
        line = self.render(ev)
        if line and self._bar is not None:
            self._bar.write(line, file=self.stream)
        elif line:
            print(line, file=self.stream, flush=True)

    def _update_bar(self, ev: dict[str, Any]) -> None:
        from tqdm import tqdm
        if self._bar is None:
            self._bar = tqdm(total=ev["total_steps"], initial=ev["step"] - 1, file=self.stream, unit="step",
                             dynamic_ncols=True)
        self._bar.update(ev["step"] - self._bar.n)
        self._bar.set_postfix_str(f"loss {ev['loss']:.4f} lr {ev['lr']:.1e} {ev['tokens_per_s']:,.0f} tok/s",
                                  refresh=True)

    @staticmethod
    def render(ev: dict[str, Any]) -> str:
        kind = ev["event"]
        if kind == "step":
            eta = ev.get("eta_s") or 0
            return (f"step {ev['step']:>6}/{ev['total_steps']}  loss {ev['loss']:.4f}  lr {ev['lr']:.2e}  "
                    f"grad {ev.get('grad_norm') or 0:.2f}  {ev['tokens_per_s']:,.0f} tok/s  eta {eta / 60:.1f} min")
        if kind == "eval":
            metrics = "  ".join(f"{k} {v:.3f}" for k, v in (ev.get("metrics") or {}).items()
                                if isinstance(v, (int, float)))
            if ev.get("val_loss") is None or ev["val_loss"] != ev["val_loss"]:
                return f"eval @ {ev['step']}: no validation data  {metrics}".rstrip()
            ppl = ev.get("ppl")
            # A stage whose val metric is not a token loss (DPO, reward, PPO, GRPO) sends ppl NaN: no ppl is shown.
            ppl = f"  ppl {ppl:.2f}" if isinstance(ppl, (int, float)) and math.isfinite(ppl) else ""
            return f"eval @ {ev['step']}: val_loss {ev['val_loss']:.4f}{ppl}  {metrics}".rstrip()
        if kind == "sample":
            return f"sample @ {ev['step']}: {ev['prompt']!r} -> {ev['completion']!r}"
        if kind == "checkpoint":
            return f"checkpoint ({ev['reason']}): {ev['path']}"
        if kind == "log":
            return f"[{ev.get('level', 'info')}] {ev['message']}"
        if kind == "progress":
            total = ev.get("total") or 0
            if not total:
                return f"{ev['phase']}: {ev['done']:,} read"
            return f"{ev['phase']}: {100 * ev['done'] / total:.0f}% ({ev['done']:,}/{total:,})"
        if kind == "hello":
            return f"minigpt engine {ev['engine_version']} on {ev['device']}"
        if kind == "batch":
            return ev.get("message", "")
        if kind in ("paused", "resumed"):
            return kind
        if kind == "error":
            return ""  # the CLI prints errors itself
        if kind == "done":
            return f"done: {ev['status']}"
        return ""


class EventSink:
    """Emits protocol events to any of: a JSON-lines stream, a human display, and an events.jsonl file.

    Events emitted before the run folder exists are kept and written when `attach_file` is called.
    """

    def __init__(self, stream: IO[str] | None = None, display: HumanDisplay | None = None):
        self.stream, self.display = stream, display
        self._file: IO[str] | None = None
        self._pending: list[str] = []
        self._closed = False
        self._lock = threading.Lock()

    def attach_file(self, path: Path) -> None:
        with self._lock:
            self._file = open(path, "a", encoding="utf-8", buffering=1)
            for line in self._pending:
                self._file.write(line + "\n")
            self._pending.clear()

    def emit(self, event: str, **data: Any) -> dict[str, Any]:
        ev = make_event(event, **data)
        line = encode(ev)
        with self._lock:
            if self.stream is not None:
                try:
                    self.stream.write(line + "\n")
                    self.stream.flush()
                except (BrokenPipeError, ValueError):
                    self.stream = None  # the studio went away: keep training and keep writing the file
            if self._file is not None:
                self._file.write(line + "\n")
            elif not self._closed:
                self._pending.append(line)
        if self.display is not None:
            self.display.show(ev)
        return ev

    def log(self, message: str, level: str = "info") -> None:
        self.emit("log", level=level, message=message)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._file is not None:
                self._file.close()
                self._file = None


class NullSink(EventSink):
    """Drops every event (library use and tests that do not care)."""

    def emit(self, event: str, **data: Any) -> dict[str, Any]:
        return make_event(event, **data)
