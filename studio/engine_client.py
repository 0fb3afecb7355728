"""EngineClient: owns one engine QProcess (a training run or a tokenizer job).

Splits stdout into protocol events, tails the engine's stderr (kept in a log file so a run can outlive the
studio), sends commands on stdin, and reports how it ended as an `Outcome`. A crash, a non-zero exit, a line
that is not protocol JSON or an `error` event marks the process failed; nothing it prints can raise here.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QTimer, Signal

from engine.protocol import Event, ProtocolError, make_command, parse_event

STDERR_TAIL_LINES = 40
STDERR_POLL_MS = 200
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
        self.stderr_path = Path(stderr_path) if stderr_path else None
        self._proc = QProcess(self)
        if env:
            from PySide6.QtCore import QProcessEnvironment
            penv = QProcessEnvironment.systemEnvironment()
            for k, v in env.items():
                penv.insert(k, v)
            self._proc.setProcessEnvironment(penv)
        self._buf = b""
        self._err_buf = b""
        self._err_pos = 0
        self._tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._failure: tuple[str, str, str] | None = None    # message, hint, traceback
        self._done: Event | None = None
        self._finished = False
        self._stop_requested = False
        self._err_timer = QTimer(self, interval=STDERR_POLL_MS)
        self._kill_timer = QTimer(self, singleShot=True)
        self._kill_timer.timeout.connect(self._on_grace_over)
        self._err_timer.timeout.connect(self._read_stderr)
        self._proc.readyReadStandardOutput.connect(self._on_stdout)
        self._proc.readyReadStandardError.connect(self._on_stderr_pipe)
        self._proc.started.connect(self._on_started)
        self._proc.finished.connect(self._on_finished)
        self._proc.errorOccurred.connect(self._on_error)

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        if self.stderr_path is not None:
            self.stderr_path.parent.mkdir(parents=True, exist_ok=True)
            self.stderr_path.write_bytes(b"")
            self._proc.setStandardErrorFile(str(self.stderr_path))
            self._err_timer.start()
        self._proc.start(self.argv[0], self.argv[1:])

    def send(self, cmd: str, **data) -> bool:
        """Write one command line to the engine's stdin; False if it is not running."""
        if self._proc.state() != QProcess.ProcessState.Running:
            return False
        self._proc.write((json.dumps(make_command(cmd, **data)) + "\n").encode())
        return True

    def stop(self, grace_ms: int = DEFAULT_GRACE_MS) -> None:
        """Ask for a clean stop (the engine saves and exits); kill it if it has not ended after `grace_ms`."""
        self._stop_requested = True
        if not self.send("stop"):
            return
        self._kill_timer.start(grace_ms)

    def kill(self) -> None:
        if self._proc.state() != QProcess.ProcessState.NotRunning:
            self._proc.kill()

    def detach(self) -> None:
        """Stop listening; the process keeps running (its events still reach the run's events.jsonl)."""
        self._err_timer.stop()
        self._kill_timer.stop()
        for sig in (self._proc.readyReadStandardOutput, self._proc.finished, self._proc.errorOccurred):
            sig.disconnect()
        self._finished = True

    @property
    def running(self) -> bool:
        return self._proc.state() != QProcess.ProcessState.NotRunning and not self._finished

    @property
    def pid(self) -> int:
        return int(self._proc.processId())

    @property
    def stderr_tail(self) -> str:
        return "\n".join(self._tail)

    # ------------------------------------------------------------------ slots
    def _on_started(self) -> None:
        self.started.emit()

    def _on_stdout(self) -> None:
        self._buf += bytes(self._proc.readAllStandardOutput().data())
        if b"\n" not in self._buf:
            return
        *lines, self._buf = self._buf.split(b"\n")
        for raw in lines:
            self._handle_line(raw)

    def _handle_line(self, raw: bytes) -> None:
        if not raw.strip() or self._finished:
            return
        text = raw.decode("utf-8", errors="replace")
        try:
            ev = parse_event(text)
        except ProtocolError as e:
            self._fail(f"the engine printed a line that is not a protocol event ({e}): {text[:200]!r}",
                       "the output stream is corrupt, so the run was stopped; see the log for the engine's stderr")
            self.stop(grace_ms=5_000)
            return
        if ev.event == "error":
            self._fail(str(ev.get("message") or "the engine reported an error"), str(ev.get("hint") or ""),
                       str(ev.get("traceback") or ""))
        elif ev.event == "done":
            self._done = ev
        self.event_received.emit(ev)

    def _on_stderr_pipe(self) -> None:
        self._err_buf += bytes(self._proc.readAllStandardError().data())
        self._flush_stderr()

    def _read_stderr(self) -> None:
        if self.stderr_path is None:
            return
        try:
            with open(self.stderr_path, "rb") as f:
                f.seek(self._err_pos)
                chunk = f.read(1 << 20)
        except OSError:
            return
        self._err_pos += len(chunk)
        self._err_buf += chunk
        self._flush_stderr()

    def _flush_stderr(self, final: bool = False) -> None:
        if b"\n" not in self._err_buf and not final:
            return
        *lines, self._err_buf = self._err_buf.split(b"\n")
        if final and self._err_buf:
            lines.append(self._err_buf)
            self._err_buf = b""
        texts = [ln.decode("utf-8", errors="replace").rstrip("\r") for ln in lines]
        texts = [t for t in texts if t.strip()]
        if texts:
            self._tail.extend(texts)
            self.stderr_received.emit("\n".join(texts))

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._fail(f"could not start the engine: {self._proc.errorString()}",
                       f"command: {' '.join(self.argv[:4])} ...; check that the engine is installed")
            self._finish(exit_code=None, crashed=False)

    def _on_grace_over(self) -> None:
        if self._proc.state() != QProcess.ProcessState.NotRunning:
            self.stderr_received.emit("studio: the engine did not stop within the grace period; killing it")
            self._proc.kill()

    def _on_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        self._on_stdout()
        if self._buf.strip():
            self._handle_line(self._buf)
            self._buf = b""
        self._read_stderr()
        self._on_stderr_pipe()
        self._flush_stderr(final=True)
        self._finish(exit_code, exit_status == QProcess.ExitStatus.CrashExit)

    def _fail(self, message: str, hint: str = "", tb: str = "") -> None:
        if self._failure is None:
            self._failure = (message, hint, tb)
            self.failed.emit(message)

    def _finish(self, exit_code: int | None, crashed: bool) -> None:
        if self._finished:
            return
        self._finished = True
        self._err_timer.stop()
        self._kill_timer.stop()
        done_status = str(self._done.get("status")) if self._done is not None else None
        summary = dict(self._done.get("summary") or {}) if self._done is not None else {}
        if crashed and self._failure is None and not self._stop_requested:
            self._fail("the engine process crashed (killed by a signal or a fatal error)",
                       "the engine's last stderr lines are below; a crash without a traceback is often out-of-memory")
        elif crashed and self._failure is None:
            self._fail("the engine was killed after it did not stop in time")
        elif exit_code not in (0, None) and self._failure is None:
            self._fail(f"the engine exited with code {exit_code}", "the log holds the engine's stderr")
        elif done_status is None and self._failure is None:
            self._fail("the engine exited without reporting how the run ended", "the log holds the engine's stderr")
        elif done_status == "failed" and self._failure is None:
            self._fail(str(summary.get("error") or "the engine reported the run failed"))
        if self._failure is not None:
            message, hint, tb = self._failure
            outcome = Outcome("failed", exit_code, crashed, message, hint, tb, self.stderr_tail, summary)
        else:
            outcome = Outcome(done_status or "completed", exit_code, crashed, summary=summary,
                              stderr_tail=self.stderr_tail)
        self.finished.emit(outcome)
