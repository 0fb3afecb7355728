"""RunState: everything known about one training run, built from its protocol events. No widgets.

Fed live by an EngineClient or replayed from a run's events.jsonl. Metrics go into numpy-backed Series
that plots read on their own timer (`revision` tells them something changed); rarer things (status,
samples, log lines, checkpoints, errors) are announced with signals.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal

from engine.protocol import (
    BatchEvent,
    CheckpointEvent,
    ConfigEvent,
    DoneEvent,
    ErrorEvent,
    EvalEvent,
    Event,
    HelloEvent,
    LogEvent,
    ProgressEvent,
    SampleEvent,
    StepEvent,
    step_extras,
    typed,
)
from studio.models.series import Series

STEP_BOOKKEEPING = {"step", "total_steps", "epoch", "tokens_seen", "eta_s", "mem_kind", "skipped_steps"}
TERMINAL = ("completed", "stopped", "failed", "diverged", "interrupted")
FAILED = ("failed", "diverged")  # diverged: the engine stopped a run whose loss went NaN/inf (error kind "diverged")
LOG_LINES = 5000


@dataclass
class ErrorInfo:
    message: str
    hint: str = ""
    traceback: str = ""
    kind: str = ""


class RunState(QObject):
    status_changed = Signal(str)
    series_added = Signal(str)              # a metric key seen for the first time (plots for stage metrics appear)
    sample_added = Signal(int, str, str)    # step, prompt, completion
    log_added = Signal(str, str)            # level, text
    checkpoint_added = Signal(int, str, str)  # step, path, reason
    error_received = Signal(object)         # ErrorInfo
    progress_changed = Signal(str, int, int)  # phase, done, total
    batch_changed = Signal(object)          # BatchEvent: an auto batch size try, its choice, or an OOM back-off
    reloaded = Signal()                     # a batch of events was replayed

    def __init__(self, name: str = "", parent: QObject | None = None):
        super().__init__(parent)
        self.name = name
        self.run_dir = ""
        self.status = "starting"
        self.device = ""
        self.mem_kind = ""
        self.stage = ""
        self.config: dict[str, Any] = {}
        self.params = 0
        self.step = 0
        self.total_steps = 0
        self.epoch = 0.0
        self.tokens_seen = 0
        self.skipped_steps = 0              # steps the engine skipped for a NaN/inf loss or gradient
        self.micro_batch = 0                # what the run trains with, once auto batch size or a back-off said so
        self.grad_accum = 0
        self.eta_s: float | None = None
        self.started_t: float | None = None
        self.last_t: float | None = None
        self.ended_t: float | None = None
        self.best_val: float | None = None
        self.error: ErrorInfo | None = None
        self.stderr_tail = ""
        self.samples: list[tuple[int, str, str]] = []
        self.checkpoints: list[tuple[int, str, str]] = []
        self.logs: deque[tuple[str, str]] = deque(maxlen=LOG_LINES)
        self.series: dict[str, Series] = {}
        self.revision = 0
        self._quiet = False

    # ------------------------------------------------------------------ feeding
    def apply(self, ev: Event) -> None:
        handler = getattr(self, f"_ev_{ev.event}", None)
        if ev.t:
            self.started_t = ev.t if self.started_t is None else self.started_t
            self.last_t = ev.t
        if handler is not None:
            handler(ev)
        self.revision += 1

    def apply_many(self, events: list[Event]) -> None:
        """Replay a run's history without a signal per event; ends with `reloaded`."""
        self._quiet = True
        try:
            for ev in events:
                self.apply(ev)
        finally:
            self._quiet = False
        self.reloaded.emit()
        self.status_changed.emit(self.status)

    def add_stderr(self, text: str) -> None:
        for line in text.splitlines():
            self._log("stderr", line)

    def mark_failed(self, message: str, hint: str = "", tb: str = "", stderr_tail: str = "") -> None:
        self.stderr_tail = stderr_tail or self.stderr_tail
        if self.error is None:
            self.error = ErrorInfo(message, hint, tb)
        else:  # the first reason stays; later reports may add the hint, traceback and stderr tail
            self.error.hint = self.error.hint or hint
            self.error.traceback = self.error.traceback or tb
        self._emit(self.error_received, self.error)
        self._set_status("failed")

    def mark_interrupted(self) -> None:
        if self.status not in TERMINAL:
            self._set_status("interrupted")

    def set_status(self, status: str) -> None:
        self._set_status(status)

    # ------------------------------------------------------------------ queries
    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    @property
    def elapsed_s(self) -> float:
        if self.started_t is None:
            return 0.0
        end = self.ended_t or (self.last_t if self.finished else time.time())
        return max(0.0, (end or self.started_t) - self.started_t)

    def latest(self, key: str) -> float | None:
        s = self.series.get(key)
        return s.last if s is not None else None

    # ------------------------------------------------------------------ events
    def _ev_hello(self, ev: Event) -> None:
        hello: HelloEvent = typed(ev)
        self.run_dir = hello.run_dir or self.run_dir
        self.device = hello.device
        if self.run_dir:
            self.name = self.run_dir.rstrip("/").rsplit("/", 1)[-1]
        if hello.resumed:
            # A new engine continues this run from a checkpoint: whatever the replayed events said last
            # (stopped, failed, interrupted), it is running again, and the steps after that checkpoint repeat.
            self.ended_t, self.error = None, None
            step = hello.resume_step
            if step is not None:
                for s in self.series.values():
                    s.truncate(step)
                self.step = min(self.step, step)
            self.status = "starting"
        if self.status in ("starting", "interrupted"):
            self._set_status("running")

    def _ev_config(self, ev: Event) -> None:
        config: ConfigEvent = typed(ev)
        self.config = config.config
        self.params = config.params
        self.stage = str((self.config.get("stage") or {}).get("name") or "")
        self.total_steps = int((self.config.get("run") or {}).get("max_steps") or self.total_steps)

    def _ev_progress(self, ev: Event) -> None:
        progress: ProgressEvent = typed(ev)
        self._emit(self.progress_changed, progress.phase, progress.done, progress.total or 0)

    def _ev_batch(self, ev: Event) -> None:
        batch: BatchEvent = typed(ev)
        if batch.phase in ("chosen", "backoff"):
            self.micro_batch, self.grad_accum = batch.micro_batch, batch.grad_accum
        self._log("warning" if batch.phase == "backoff" else "info", batch.message)
        self._emit(self.batch_changed, batch)

    def _ev_step(self, ev: Event) -> None:
        data: StepEvent = typed(ev)
        step = self.step = data.step
        self.total_steps = data.total_steps or self.total_steps
        self.epoch = data.epoch
        self.tokens_seen = data.tokens_seen or self.tokens_seen
        self.skipped_steps = int(step_extras(ev).get("skipped_steps", 0))
        self.eta_s = data.eta_s
        self.mem_kind = data.mem_kind or self.mem_kind
        for key, value in ev.data.items():
            if key in STEP_BOOKKEEPING:
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self._put(key, step, float(value))
            elif isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value):
                for i, v in enumerate(value):  # e.g. expert_load: one series per expert
                    self._put(f"{key}/{i}", step, float(v))
        if self.status in ("starting", "interrupted"):
            self._set_status("running")

    def _ev_eval(self, ev: Event) -> None:
        data: EvalEvent = typed(ev)
        step = data.step or self.step
        if data.val_loss is not None:
            self._put("val_loss", step, float(data.val_loss))
            self.best_val = float(data.val_loss) if self.best_val is None else min(self.best_val, data.val_loss)
        for key, value in data.metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self._put(f"eval/{key}", step, float(value))

    def _ev_sample(self, ev: Event) -> None:
        sample: SampleEvent = typed(ev)
        item = (sample.step, sample.prompt, sample.completion)
        self.samples.append(item)
        self._emit(self.sample_added, *item)

    def _ev_checkpoint(self, ev: Event) -> None:
        ckpt: CheckpointEvent = typed(ev)
        item = (ckpt.step, ckpt.path, ckpt.reason)
        self.checkpoints.append(item)
        self._emit(self.checkpoint_added, *item)
        self._log("info", f"checkpoint ({item[2]}) at step {item[0]}: {item[1]}")

    def _ev_log(self, ev: Event) -> None:
        log: LogEvent = typed(ev)
        self._log(log.level, log.message)

    def _ev_paused(self, ev: Event) -> None:
        self._set_status("paused")

    def _ev_resumed(self, ev: Event) -> None:
        self._set_status("running")

    def _ev_error(self, ev: Event) -> None:
        error: ErrorEvent = typed(ev)
        info = ErrorInfo(error.message or "error", error.hint or "", error.traceback or "", error.kind)
        self._log("error", info.message)
        if self.error is None:
            self.error = info
            self._emit(self.error_received, info)
        self._set_status("diverged" if info.kind == "diverged" else "failed")

    def _ev_done(self, ev: Event) -> None:
        done: DoneEvent = typed(ev)
        summary = done.summary
        if isinstance(summary.get("best_val_loss"), (int, float)):
            self.best_val = float(summary["best_val_loss"])
        self.step = int(summary.get("steps") or self.step)
        self.ended_t = ev.t or time.time()
        status = done.status or "completed"
        if status == "failed" and self.error is None:
            self.error = ErrorInfo(str(summary.get("error") or "the run failed"))
            self._emit(self.error_received, self.error)
        self._set_status(status)

    # ------------------------------------------------------------------ helpers
    def _put(self, key: str, x: float, y: float) -> None:
        s = self.series.get(key)
        if s is None:
            s = self.series[key] = Series()
            self._emit(self.series_added, key)
        s.append(x, y)

    def _log(self, level: str, text: str) -> None:
        self.logs.append((level, text))
        self._emit(self.log_added, level, text)

    def _set_status(self, status: str) -> None:
        if status == self.status:
            return
        if self.status in FAILED and status in ("completed", "stopped", "running", "paused", "failed"):
            return  # a failure sticks, even if the engine later says done; "diverged" says more than "failed"
        self.status = status
        if status in TERMINAL and self.ended_t is None:
            self.ended_t = self.last_t or time.time()
        self._emit(self.status_changed, status)

    def _emit(self, signal, *args) -> None:
        if not self._quiet:
            signal.emit(*args)
