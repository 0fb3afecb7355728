"""EngineClient: one engine process (a training run or a tokenizer job) and what its end means for the run.

Its ProcessClient splits stdout into protocol events and tails the engine's stderr (kept in a log file so a run can
outlive the studio); this class sends commands on stdin, stops it with a grace period, and reports how the run
ended as an `Outcome`. A crash, a non-zero exit, a line that is not protocol JSON or an `error` event marks the
run failed; nothing the engine prints can raise here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from engine.protocol import DoneEvent, ErrorEvent, Event, make_command, typed
from studio.process_client import ProcessClient, ProcessOutcome

STDERR_TAIL_LINES = 40
DEFAULT_GRACE_MS = 20_000


@dataclass
class Outcome:
    """How an engine process ended."""

    status: str                       # completed | stopped | failed
    exit_code: int | None = None
    crashed: bool = False
    message: str = ""                 # why it failed, in one line
    hint: str = ""
    traceback: str = ""
    stderr_tail: str = ""
    summary: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in ("completed", "stopped")


class EngineClient(QObject):
    started = Signal()
    event_received = Signal(object)      # engine.protocol.Event
    stderr_received = Signal(str)        # complete lines of the engine's stderr, batched
    failed = Signal(str)                 # once, the first reason the process is considered failed
    finished = Signal(object)            # Outcome, exactly once

    def __init__(self, argv: list[str], stderr_path: str | Path | None = None, parent: QObject | None = None,
                 env: dict[str, str] | None = None):
        super().__init__(parent)
        self.argv = list(argv)
        self._proc = ProcessClient(argv, stderr_path=stderr_path, env=env, tail_lines=STDERR_TAIL_LINES, parent=self)
        self._failure: tuple[str, str, str] | None = None    # message, hint, traceback
        self._done: Event | None = None
        self._finished = False
        self._stop_requested = False
        self._kill_timer = QTimer(self, singleShot=True)
        self._kill_timer.timeout.connect(self._on_grace_over)
        self._proc.started.connect(self.started)
        self._proc.event_received.connect(self._on_event)
        self._proc.bad_line.connect(self._on_bad_line)
        self._proc.stderr_received.connect(self.stderr_received)
        self._proc.finished.connect(self._on_finished)

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        self._proc.start()

    def send(self, cmd: str, **data) -> bool:
        """Write one command line to the engine's stdin; False if it is not running."""
        return self._proc.write(make_command(cmd, **data))

    def stop(self, grace_ms: int = DEFAULT_GRACE_MS) -> None:
        """Ask for a clean stop (the engine saves and exits); kill it if it has not ended after `grace_ms`."""
        self._stop_requested = True
        if not self.send("stop"):
            return
        self._kill_timer.start(grace_ms)

    def kill(self) -> None:
        self._proc.kill()

    def abandon(self, grace_ms: int) -> None:
        """Stop listening and end the process (stdin closed, killed after `grace_ms`); it emits nothing more.
        process_client.end_abandoned makes sure it has ended before the studio exits."""
        self._kill_timer.stop()
        self._finished = True
        self._proc.abandon(grace_ms)

    def detach(self) -> None:
        """Stop listening; the process keeps running (its events still reach the run's events.jsonl)."""
        self._kill_timer.stop()
        self._proc.detach()
        self._finished = True

    @property
    def running(self) -> bool:
        return self._proc.running and not self._finished

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def stderr_tail(self) -> str:
        return self._proc.stderr_tail

    # ------------------------------------------------------------------ slots
    def _on_event(self, ev: Event) -> None:
        if self._finished:
            return
        if ev.event == "error":
            err: ErrorEvent = typed(ev)
            self._fail(err.message or "the engine reported an error", err.hint, err.traceback or "")
        elif ev.event == "done":
            self._done = ev
        self.event_received.emit(ev)

    def _on_bad_line(self, text: str, why: str) -> None:
        if self._finished:
            return
        self._fail(self.tr("the engine printed a line that is not a protocol event ({0}): {1!r}").format(
                       why, text[:200]),
                   self.tr("the output stream is corrupt, so the run was stopped; see the log for the engine's stderr"))
        self.stop(grace_ms=5_000)

    def _on_grace_over(self) -> None:
        if self._proc.running:
            self.stderr_received.emit("studio: the engine did not stop within the grace period; killing it")
            self._proc.kill()

    def _fail(self, message: str, hint: str = "", tb: str = "") -> None:
        if self._failure is None:
            self._failure = (message, hint, tb)
            self.failed.emit(message)

    def _on_finished(self, proc: ProcessOutcome) -> None:
        if self._finished:
            return
        self._finished = True
        self._kill_timer.stop()
        exit_code, crashed = proc.exit_code, proc.crashed
        done: DoneEvent | None = typed(self._done) if self._done is not None else None
        summary = dict(done.summary or {}) if done is not None else {}
        if proc.start_error:
            self._fail(self.tr("could not start the engine: {0}").format(proc.start_error),
                       self.tr("command: {0} ...; check that the engine is installed").format(" ".join(self.argv[:4])))
        elif crashed and self._failure is None and not self._stop_requested:
            self._fail(self.tr("the engine process crashed (killed by a signal or a fatal error)"),
                       self.tr("the engine's last stderr lines are below; a crash without a traceback is often "
                               "out-of-memory"))
        elif crashed and self._failure is None:
            self._fail(self.tr("the engine was killed after it did not stop in time"))
        elif exit_code not in (0, None) and self._failure is None:
            self._fail(self.tr("the engine exited with code {0}").format(exit_code),
                       self.tr("the log holds the engine's stderr"))
        elif done is None and self._failure is None:
            self._fail(self.tr("the engine exited without reporting how the run ended"),
                       self.tr("the log holds the engine's stderr"))
        elif done is not None and done.status == "failed" and self._failure is None:
            self._fail(str(summary.get("error") or self.tr("the engine reported the run failed")))
        if self._failure is not None:
            message, hint, tb = self._failure
            outcome = Outcome("failed", exit_code, crashed, message, hint, tb, proc.stderr_tail, summary)
        else:
            outcome = Outcome(done.status or "completed", exit_code, crashed, summary=summary,
                              stderr_tail=proc.stderr_tail)
        self.finished.emit(outcome)
