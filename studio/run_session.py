"""RunSession: one run as the studio sees it: a RunState fed either live by an EngineClient or by replaying
the run's events.jsonl in a worker (past runs, and runs going on without this studio, followed by tailing).

The monitor view talks to this object only: pause / resume / stop / save and the state to draw.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from engine.protocol import ProtocolError, parse_event
from studio import workers
from studio.engine_client import EngineClient, Outcome
from studio.models.replay import Replayed, adopt, replay_file
from studio.models.run_scan import engine_alive
from studio.models.run_state import RunState

FOLLOW_MS = 500


class RunSession(QObject):
    ended = Signal(object)          # Outcome (live runs) or None (replays)
    loaded = Signal()               # a replay finished reading events.jsonl

    def __init__(self, state: RunState, client: EngineClient | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.state = state
        self.client = client
        self.outcome: Outcome | None = None
        self.resume_of: str | None = None   # the run folder this session's engine resumes, until it ends
        self._follow_pos = 0
        self._follow_path: str | None = None
        self._follow_timer = QTimer(self, interval=FOLLOW_MS)
        self._follow_timer.timeout.connect(self._on_follow_tick)
        self._pid: int | None = None
        if client is not None:
            client.setParent(self)
            client.event_received.connect(state.apply)
            client.stderr_received.connect(state.add_stderr)
            client.failed.connect(self._on_failed)
            client.finished.connect(self._on_finished)

    # ------------------------------------------------------------------ live runs
    @property
    def live(self) -> bool:
        return self.client is not None and self.client.running

    def start(self) -> None:
        if self.client is not None:
            self.client.start()

    def pause(self) -> None:
        if self.client is not None:
            self.client.send("pause")

    def resume(self) -> None:
        if self.client is not None:
            self.client.send("resume")

    def save(self) -> None:
        if self.client is not None:
            self.client.send("save")

    def stop(self, grace_ms: int = 20_000) -> None:
        if self.client is not None and self.client.running:
            self.state.set_status("stopping")
            self.client.stop(grace_ms)

    def detach(self) -> None:
        """Leave the engine running without us (its events keep going to events.jsonl)."""
        if self.client is not None and self.client.running:
            self.client.detach()

    def _on_failed(self, message: str) -> None:
        self.state.mark_failed(message)

    def _on_finished(self, outcome: Outcome) -> None:
        self.outcome = outcome
        if not outcome.ok:
            self.state.mark_failed(outcome.message, outcome.hint, outcome.traceback, outcome.stderr_tail)
        elif not self.state.finished:
            self.state.set_status(outcome.status)
        self.ended.emit(outcome)

    # ------------------------------------------------------------------ replays
    def load(self, run_dir: str, follow: bool = True) -> None:
        """Re-plot a run from its events.jsonl (in a worker); keep following it while its engine is alive."""
        path = str(Path(run_dir, "events.jsonl"))
        self.state.run_dir = str(run_dir)
        self.state.name = self.state.name or Path(run_dir).name
        if not os.path.isfile(path):
            self.state.mark_interrupted()
            self.loaded.emit()
            return
        # Parsed and applied in a worker, swapped in whole (models/replay.py): on the UI thread a 100k-step run
        # stalled the event loop for seconds.
        w = workers.Worker(replay_file, path, self.state.name, self.state.run_dir)
        w.signals.progressed.connect(
            lambda done, total: self.state.progress_changed.emit("reading events.jsonl", done, total))
        w.signals.succeeded.connect(lambda res, p=path, f=follow: self._on_loaded(p, res, f))
        w.signals.failed.connect(lambda msg: self.state.mark_failed(f"could not read {path}: {msg}"))
        w.start()

    def _on_loaded(self, path: str, result: Replayed, follow: bool) -> None:
        adopt(self.state, result.state)
        self._pid = result.pid
        if not self.state.finished:
            if follow and engine_alive(self._pid):
                self._follow_path, self._follow_pos = path, result.offset
                self.state.set_status("running")
                self._follow_timer.start()
            else:
                self.state.mark_interrupted()
        self.loaded.emit()

    def _on_follow_tick(self) -> None:
        try:
            with open(self._follow_path, "rb") as f:
                f.seek(self._follow_pos)
                chunk = f.read(4 << 20)
        except OSError:
            return
        cut = chunk.rfind(b"\n") + 1
        self._follow_pos += cut
        for line in chunk[:cut].splitlines():
            try:
                self.state.apply(parse_event(line.decode("utf-8", errors="replace")))
            except ProtocolError:
                continue
        if self.state.finished:
            self._follow_timer.stop()
        elif cut == 0 and not engine_alive(self._pid):
            self._follow_timer.stop()
            self.state.mark_interrupted()

    def close(self) -> None:
        self._follow_timer.stop()
