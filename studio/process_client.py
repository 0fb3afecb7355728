"""ProcessClient: one engine process behind a QProcess. Splits its stdout into protocol events (or keeps it whole),
keeps the tail of its stderr (from the pipe, or from a log file so the process can outlive the studio), and reports
how it ended as a `ProcessOutcome`, exactly once.

It knows nothing about what the process does: EngineClient, ChatClient and DoctorCall each own one and decide
what an event, a bad line or an exit means for them.
"""

from __future__ import annotations

import atexit
import json
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import shiboken6
from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from engine.protocol import ProtocolError, parse_event
from studio.file_tail import FileTail

TAIL_LINES = 40
STDERR_POLL_MS = 200
KILL_WAIT_MS = 1000    # a killed process is gone within this (the kernel ends it; we only collect its status)
_ABANDONED: set[ProcessClient] = set()   # processes told to exit, kept referenced until they do


@dataclass
class ProcessOutcome:
    """How the process ended."""

    exit_code: int | None            # None when it never started
    crashed: bool = False            # killed by a signal, or a fatal error
    start_error: str = ""            # why it could not start
    stderr_tail: str = ""
    stdout: bytes = b""              # all of stdout, for a client that does not split it into events

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.crashed and not self.start_error


class ProcessClient(QObject):
    started = Signal()
    event_received = Signal(object)      # engine.protocol.Event
    bad_line = Signal(str, str)          # a stdout line that is not an event, and why
    stderr_received = Signal(str)        # complete stderr lines, batched
    finished = Signal(object)            # ProcessOutcome, exactly once

    def __init__(self, argv: list[str], *, events: bool = True, stderr_path: str | Path | None = None,
                 env: dict[str, str] | None = None, tail_lines: int = TAIL_LINES, parent: QObject | None = None):
        super().__init__(parent)
        self.argv = list(argv)
        self.events = events
        self.stderr_path = Path(stderr_path) if stderr_path else None
        self._proc = QProcess(self)
        if env:
            penv = QProcessEnvironment.systemEnvironment()
            for k, v in env.items():
                penv.insert(k, v)
            self._proc.setProcessEnvironment(penv)
        self._out = b""
        self._err = b""
        self._tail: deque[str] = deque(maxlen=tail_lines)
        self._err_file: FileTail | None = None
        self._start_error = ""
        self._finished = False
        self._err_timer = QTimer(self, interval=STDERR_POLL_MS)
        self._err_timer.timeout.connect(self._on_stderr_file)
        self._proc.readyReadStandardOutput.connect(self._on_stdout)
        self._proc.readyReadStandardError.connect(self._on_stderr_pipe)
        self._proc.started.connect(self.started)
        self._proc.finished.connect(self._on_finished)
        self._proc.errorOccurred.connect(self._on_error)

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        if self.stderr_path is not None:
            self.stderr_path.parent.mkdir(parents=True, exist_ok=True)
            self.stderr_path.write_bytes(b"")
            self._err_file = FileTail(self.stderr_path)
            self._proc.setStandardErrorFile(str(self.stderr_path))
            self._err_timer.start()
        self._proc.start(self.argv[0], self.argv[1:])

    def write(self, obj: dict) -> bool:
        """One JSON line on the process's stdin; False if it is not running."""
        if self._proc.state() != QProcess.ProcessState.Running:
            return False
        self._proc.write((json.dumps(obj) + "\n").encode())
        return True

    def close_stdin(self) -> None:
        self._proc.closeWriteChannel()

    def kill(self) -> None:
        if self._proc.state() != QProcess.ProcessState.NotRunning:
            self._proc.kill()

    def detach(self) -> None:
        """Stop listening for good; the process keeps running on its own."""
        self._err_timer.stop()
        self._finished = True
        for sig in (self._proc.readyReadStandardOutput, self._proc.readyReadStandardError, self._proc.finished,
                    self._proc.errorOccurred):
            sig.disconnect()

    def abandon(self, grace_ms: int) -> None:
        """Close stdin (an engine that reads commands exits at EOF), kill it if it lingers past `grace_ms`,
        and drop this object once it ended. Emits nothing more."""
        self.detach()
        if self._proc.state() == QProcess.ProcessState.NotRunning:
            self.deleteLater()
            return
        self.setParent(None)             # it may outlive its owner for the grace period
        _ABANDONED.add(self)
        self._kill_at = time.monotonic() + grace_ms / 1000
        self._proc.finished.connect(_reap_abandoned)
        self.close_stdin()
        QTimer.singleShot(grace_ms, self._proc, self._proc.kill)  # the timer dies with the process object

    @property
    def running(self) -> bool:
        return self._proc.state() != QProcess.ProcessState.NotRunning and not self._finished

    @property
    def pid(self) -> int:
        return int(self._proc.processId())

    @property
    def stderr_tail(self) -> str:
        return "\n".join(self._tail)

    def error_string(self) -> str:
        return self._proc.errorString()

    # ------------------------------------------------------------------ slots
    def _on_stdout(self) -> None:
        self._out += bytes(self._proc.readAllStandardOutput().data())
        if not self.events or b"\n" not in self._out:
            return
        *lines, self._out = self._out.split(b"\n")
        for raw in lines:
            self._handle_line(raw)

    def _handle_line(self, raw: bytes) -> None:
        if not raw.strip() or self._finished:
            return
        text = raw.decode("utf-8", errors="replace")
        try:
            ev = parse_event(text)
        except ProtocolError as e:
            self.bad_line.emit(text, str(e))
            return
        self.event_received.emit(ev)

    def _on_stderr_pipe(self) -> None:
        self._err += bytes(self._proc.readAllStandardError().data())
        self._flush_stderr()

    def _on_stderr_file(self) -> None:
        if self._err_file is not None:
            lines = self._err_file.read_lines()
            if lines:
                self._err += b"\n".join(lines) + b"\n"
                self._flush_stderr()

    def _flush_stderr(self, final: bool = False) -> None:
        if b"\n" not in self._err and not final:
            return
        *lines, self._err = self._err.split(b"\n")
        if final and self._err:
            lines.append(self._err)
            self._err = b""
        texts = [ln.decode("utf-8", errors="replace").rstrip("\r") for ln in lines]
        texts = [t for t in texts if t.strip()]
        if texts:
            self._tail.extend(texts)
            self.stderr_received.emit("\n".join(texts))

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._start_error = self._proc.errorString()
            self._finish(None, False)

    def _on_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        self._on_stdout()
        if self.events and self._out.strip():
            self._handle_line(self._out)
            self._out = b""
        self._on_stderr_file()
        if self._err_file is not None:  # what is left after the last newline
            try:
                with open(self._err_file.path, "rb") as f:
                    f.seek(self._err_file.pos)
                    self._err += f.read()
            except OSError:
                pass
        self._on_stderr_pipe()
        self._flush_stderr(final=True)
        self._finish(exit_code, exit_status == QProcess.ExitStatus.CrashExit)

    def _finish(self, exit_code: int | None, crashed: bool) -> None:
        if self._finished:
            return
        self._finished = True
        self._err_timer.stop()
        stdout = b"" if self.events else self._out
        self.finished.emit(ProcessOutcome(exit_code, crashed, self._start_error, self.stderr_tail, stdout))


def _reap_abandoned(*_args) -> None:
    for client in list(_ABANDONED):
        if not shiboken6.isValid(client) or not shiboken6.isValid(client._proc):  # deleted at application exit
            _ABANDONED.discard(client)
        elif client._proc.state() == QProcess.ProcessState.NotRunning:
            _ABANDONED.discard(client)
            client.deleteLater()


def end_abandoned(max_wait_ms: int) -> int:
    """Before the studio exits: give each abandoned process what is left of its grace period (all of them together
    at most `max_wait_ms`), then kill those still running and wait for them, so no QProcess is destroyed while its
    process runs. Blocks the calling thread for at most max_wait_ms + KILL_WAIT_MS per straggler; returns how
    many had to be killed."""
    deadline = time.monotonic() + max_wait_ms / 1000
    killed = 0
    for client in list(_ABANDONED):
        if not shiboken6.isValid(client) or not shiboken6.isValid(client._proc):
            _ABANDONED.discard(client)
            continue
        proc = client._proc
        wait_s = min(deadline, getattr(client, "_kill_at", deadline)) - time.monotonic()
        if proc.state() != QProcess.ProcessState.NotRunning and wait_s > 0:
            proc.waitForFinished(int(wait_s * 1000))
        if proc.state() != QProcess.ProcessState.NotRunning:
            proc.kill()
            proc.waitForFinished(KILL_WAIT_MS)
            killed += 1
        _ABANDONED.discard(client)
        client.deleteLater()
    return killed


atexit.register(end_abandoned, 1000)   # what a closed window did not wait for still ends before Qt's objects go
