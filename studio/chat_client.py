"""ChatClient: owns one `minigpt serve CKPT --stdio` process and speaks its generate / cancel protocol.

Emits `ready` once the model is loaded, then `token_received` per streamed piece and `reply_finished` with
the reply's stats. Loading another checkpoint stops the old server first. Knows nothing about chat widgets.
"""

from __future__ import annotations

import itertools
import json
from collections import deque

import shiboken6
from PySide6.QtCore import QObject, QProcess, QTimer, Signal

from engine.protocol import ProtocolError, make_command, parse_event

STOP_GRACE_MS = 3000
_CLOSING: set[QProcess] = set()   # servers told to exit, kept alive until they do


def _reap_closed(*_args) -> None:
    for proc in [p for p in _CLOSING if not shiboken6.isValid(p)]:  # already deleted at application exit
        _CLOSING.discard(proc)
    for proc in [p for p in _CLOSING if p.state() == QProcess.ProcessState.NotRunning]:
        _CLOSING.discard(proc)
        proc.deleteLater()


class ChatClient(QObject):
    loading = Signal(str)                     # checkpoint path
    ready = Signal(dict)                      # the server's ready event (checkpoint, device, params, step, ...)
    token_received = Signal(object, str)      # request id, text piece
    reply_finished = Signal(object, str, dict)  # request id, status (completed | cancelled | failed), stats
    request_failed = Signal(object, str, str)   # request id, message, hint
    failed = Signal(str, str)                 # the server itself failed: message, stderr tail
    stopped = Signal()

    def __init__(self, command, parent: QObject | None = None):
        super().__init__(parent)
        self._command = command               # studio.engine_cmd.EngineCommand
        self._proc: QProcess | None = None
        self._buf = b""
        self._stderr: deque[str] = deque(maxlen=30)
        self._ids = itertools.count(1)
        self.current_id: int | None = None
        self.checkpoint: str | None = None
        self.is_ready = False

    # ------------------------------------------------------------------ control
    def load(self, checkpoint: str) -> None:
        self.close()
        self.checkpoint = str(checkpoint)
        self.is_ready = False
        self._buf = b""
        self._stderr.clear()
        argv = self._command.serve(checkpoint)
        proc = QProcess(self)
        proc.readyReadStandardOutput.connect(self._on_stdout)
        proc.readyReadStandardError.connect(self._on_stderr)
        proc.finished.connect(self._on_finished)
        proc.errorOccurred.connect(self._on_error)
        self._proc = proc
        proc.start(argv[0], argv[1:])
        self.loading.emit(self.checkpoint)

    def generate(self, messages: list[dict], params: dict) -> int | None:
        if not self.is_ready or self._proc is None:
            return None
        req = next(self._ids)
        self.current_id = req
        self._write(make_command("generate", id=req, messages=messages, params=params))
        return req

    def cancel(self) -> None:
        if self.current_id is not None and self._proc is not None:
            self._write(make_command("cancel", id=self.current_id))

    def close(self) -> None:
        """Stop the server: close its stdin (it exits at EOF) and kill it if it lingers."""
        proc, self._proc = self._proc, None
        self.is_ready = False
        if self.current_id is not None:
            self.reply_finished.emit(self.current_id, "cancelled", {})
            self.current_id = None
        if proc is None or proc.state() == QProcess.ProcessState.NotRunning:
            return
        for sig in (proc.readyReadStandardOutput, proc.readyReadStandardError, proc.finished, proc.errorOccurred):
            sig.disconnect()
        proc.setParent(None)         # it may outlive this client for the grace period
        _CLOSING.add(proc)
        proc.finished.connect(_reap_closed)
        proc.closeWriteChannel()
        grace = QTimer(proc, singleShot=True, interval=STOP_GRACE_MS)  # owned by proc: dies with it
        grace.timeout.connect(proc.kill)
        grace.start()
        self.stopped.emit()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.state() != QProcess.ProcessState.NotRunning

    # ------------------------------------------------------------------ slots
    def _write(self, obj: dict) -> None:
        self._proc.write((json.dumps(obj) + "\n").encode())

    def _on_stdout(self) -> None:
        if self._proc is None:
            return
        self._buf += bytes(self._proc.readAllStandardOutput().data())
        *lines, self._buf = self._buf.split(b"\n")
        for raw in lines:
            if raw.strip():
                self._handle(raw.decode("utf-8", errors="replace"))

    def _handle(self, line: str) -> None:
        try:
            ev = parse_event(line)
        except ProtocolError as e:
            self._stderr.append(f"(not a protocol line: {e}) {line[:200]}")
            return
        if ev.event == "ready":
            self.is_ready = True
            self.ready.emit(dict(ev.data))
        elif ev.event == "token":
            self.token_received.emit(ev.get("id"), str(ev.get("text") or ""))
        elif ev.event == "done":
            if ev.get("id") == self.current_id:
                self.current_id = None
            self.reply_finished.emit(ev.get("id"), str(ev.get("status") or "completed"), dict(ev.get("stats") or {}))
        elif ev.event == "error":
            req = ev.get("id")
            if req is not None:
                if req == self.current_id:
                    self.current_id = None
                self.request_failed.emit(req, str(ev.get("message") or "error"), str(ev.get("hint") or ""))
                self.reply_finished.emit(req, "failed", {})
            else:
                msg = str(ev.get("message") or "error")
                hint = str(ev.get("hint") or "")
                self._stderr.append(f"error: {msg}" + (f" (hint: {hint})" if hint else ""))

    def _on_stderr(self) -> None:
        if self._proc is None:
            return
        text = bytes(self._proc.readAllStandardError().data()).decode("utf-8", errors="replace")
        self._stderr.extend(ln for ln in text.splitlines() if ln.strip())

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self._proc is not None:
            self._proc = None
            self.failed.emit("could not start the chat server", "")

    def _on_finished(self, exit_code: int, _status: QProcess.ExitStatus) -> None:
        self._on_stdout()
        self._on_stderr()
        if self._proc is not None:
            self._proc.deleteLater()
        self._proc = None
        was_ready, self.is_ready = self.is_ready, False
        if self.current_id is not None:
            self.reply_finished.emit(self.current_id, "failed", {})
            self.current_id = None
        tail = "\n".join(self._stderr)
        what = "the chat server exited" if was_ready else "the checkpoint could not be loaded"
        last = next((ln for ln in reversed(self._stderr) if ln.startswith("error")), "")
        self.failed.emit(f"{what} (exit code {exit_code})" + (f": {last}" if last else ""), tail)
