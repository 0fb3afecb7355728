"""ChatClient: owns one `minigpt serve CKPT --stdio` process and speaks its generate / cancel protocol.

Emits `ready` once the model is loaded, then `token_received` per streamed piece and `reply_finished` with
the reply's stats. Loading another checkpoint stops the old server first. The process itself (line splitting,
stderr tail, exit) is a ProcessClient's. Knows nothing about chat widgets.
"""

from __future__ import annotations

import itertools

from PySide6.QtCore import QObject, Signal

from engine.protocol import DoneEvent, ErrorEvent, Event, TokenEvent, make_command, typed
from studio.process_client import ProcessClient, ProcessOutcome

STOP_GRACE_MS = 3000
STDERR_TAIL_LINES = 30


class ChatClient(QObject):
    loading = Signal(str)                     # checkpoint path
    ready = Signal(dict)                      # the server's ready event (checkpoint, device, params, step, ...)
    token_received = Signal(object, str)      # request id, text piece
    reply_finished = Signal(object, str, dict)  # request id, status (completed | cancelled | failed), stats
    request_failed = Signal(object, str, str)   # request id, message, hint
    inspected = Signal(object, dict)          # request id, the inspect event (tokens, probabilities, attention)
    failed = Signal(str, str)                 # the server itself failed: message, stderr tail
    stopped = Signal()

    def __init__(self, command, parent: QObject | None = None):
        super().__init__(parent)
        self._command = command               # studio.engine_cmd.EngineCommand
        self._proc: ProcessClient | None = None
        self._notes: list[str] = []           # server-level errors and stray stdout, shown with the stderr tail
        self._ids = itertools.count(1)
        self.current_id: int | None = None
        self.checkpoint: str | None = None
        self.int8 = False                     # the running server decodes with int8 weights (--quantize int8)
        self.is_ready = False

    # ------------------------------------------------------------------ control
    def load(self, checkpoint: str, int8: bool = False) -> None:
        """Start a server for `checkpoint` (replacing any running one); int8: with int8 weights on the CPU."""
        self.close()
        self.checkpoint = str(checkpoint)
        self.int8 = int8
        self.is_ready = False
        self._notes = []
        proc = ProcessClient(self._command.serve(checkpoint, int8), tail_lines=STDERR_TAIL_LINES, parent=self)
        proc.event_received.connect(self._on_event)
        proc.bad_line.connect(self._on_bad_line)
        proc.finished.connect(self._on_finished)
        self._proc = proc
        proc.start()
        self.loading.emit(self.checkpoint)

    def generate(self, messages: list[dict], params: dict) -> int | None:
        if not self.is_ready or self._proc is None:
            return None
        req = next(self._ids)
        self.current_id = req
        self._proc.write(make_command("generate", id=req, messages=messages, params=params))
        return req

    def inspect(self, reply_id=None, messages: list[dict] | None = None, layer: int | None = None,
                head: int | None = None) -> int | None:
        """Ask for a finished reply's token probabilities and one layer's attention (one extra forward pass on the
        server, only now). `reply_id` names a reply of this server; `messages` (ending with the reply) any other."""
        if not self.is_ready or self._proc is None:
            return None
        req = f"inspect-{next(self._ids)}"
        data = {"reply_id": reply_id} if reply_id is not None else {"messages": messages}
        if layer is not None:
            data["layer"] = layer
        self._proc.write(make_command("inspect", id=req, head=head, **data))
        return req

    def cancel(self) -> None:
        if self.current_id is not None and self._proc is not None:
            self._proc.write(make_command("cancel", id=self.current_id))

    def close(self) -> None:
        """Stop the server: close its stdin (it exits at EOF) and kill it if it lingers."""
        proc, self._proc = self._proc, None
        self.is_ready = False
        if self.current_id is not None:
            self.reply_finished.emit(self.current_id, "cancelled", {})
            self.current_id = None
        if proc is None:
            return
        was_running = proc.running
        proc.abandon(STOP_GRACE_MS)
        if was_running:
            self.stopped.emit()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.running

    # ------------------------------------------------------------------ slots
    def _on_bad_line(self, line: str, why: str) -> None:
        self._notes.append(f"(not a protocol line: {why}) {line[:200]}")

    def _on_event(self, ev: Event) -> None:
        if ev.event == "ready":
            self.is_ready = True
            self.ready.emit(dict(ev.data))     # the whole ReadyEvent, as a dict (public signal)
        elif ev.event == "token":
            tok: TokenEvent = typed(ev)
            self.token_received.emit(tok.id, tok.text)
        elif ev.event == "inspect":
            self.inspected.emit(ev.data.get("id"), dict(ev.data))
        elif ev.event == "done":
            done: DoneEvent = typed(ev)
            if done.id == self.current_id:
                self.current_id = None
            self.reply_finished.emit(done.id, done.status or "completed", dict(done.stats))
        elif ev.event == "error":
            err: ErrorEvent = typed(ev)
            if isinstance(err.id, str) and err.id.startswith("inspect-"):
                self.request_failed.emit(err.id, err.message or "error", err.hint or "")
            elif err.id is not None:
                if err.id == self.current_id:
                    self.current_id = None
                self.request_failed.emit(err.id, err.message or "error", err.hint or "")
                self.reply_finished.emit(err.id, "failed", {})
            else:
                hint = err.hint or ""
                self._notes.append(f"error: {err.message or 'error'}" + (f" (hint: {hint})" if hint else ""))

    def _on_finished(self, outcome: ProcessOutcome) -> None:
        proc, self._proc = self._proc, None   # a closed server was detached first: this is the current one
        if proc is None:
            return
        proc.deleteLater()
        was_ready, self.is_ready = self.is_ready, False
        if self.current_id is not None:
            self.reply_finished.emit(self.current_id, "failed", {})
            self.current_id = None
        if outcome.start_error:
            self.failed.emit("could not start the chat server", outcome.start_error)
            return
        lines = outcome.stderr_tail.splitlines() + self._notes
        what = "the chat server exited" if was_ready else "the checkpoint could not be loaded"
        last = next((ln for ln in reversed(lines) if ln.startswith("error")), "")
        self.failed.emit(f"{what} (exit code {outcome.exit_code})" + (f": {last}" if last else ""), "\n".join(lines))
