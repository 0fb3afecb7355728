"""RunSession: one run as the studio sees it: a RunState fed either live by an EngineClient or by replaying
the run's events.jsonl in a worker (past runs, and runs going on without this studio, followed by tailing).

The monitor view talks to this object only: pause / resume / stop / save and the state to draw. Commands go on
the engine's stdin when this studio started it, else through the run folder's control channel (a run kept
running in the background and followed after the studio reopened).
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from engine.protocol import write_control_command
from studio import workers
from studio.engine_client import EngineClient, Outcome
from studio.file_tail import FileTail
from studio.models.replay import Replayed, adopt, replay_file
from studio.models.run_scan import run_live
from studio.models.run_state import RunState

FOLLOW_MS = 500


class RunSession(QObject):
    ended = Signal(object)          # Outcome (live runs) or None (a followed run that ended)
    loaded = Signal()               # a replay finished reading events.jsonl
    following_changed = Signal(bool)  # began or stopped following a run that an engine outside this studio owns

    def __init__(self, state: RunState, client: EngineClient | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.state = state
        self.client = client
        self.outcome: Outcome | None = None
        self.resume_of: str | None = None   # the run folder this session's engine resumes, until it ends
        self._tail: FileTail | None = None
        self._follow_timer = QTimer(self, interval=FOLLOW_MS)
        self._follow_timer.timeout.connect(self._on_follow_tick)
        if client is not None:
            client.setParent(self)
            client.event_received.connect(state.apply)
            client.stderr_received.connect(state.add_stderr)
            client.failed.connect(self._on_failed)
            client.finished.connect(self._on_finished)

    # ------------------------------------------------------------------ live runs
    @property
    def live(self) -> bool:
        """An engine is training this run and takes commands from us (our process, or a followed one)."""
        return (self.client is not None and self.client.running) or self.following

    @property
    def following(self) -> bool:
        return self._follow_timer.isActive()

    @property
    def controllable(self) -> bool:
        """Pause / Resume / Save / Stop apply to this session (now or while it was live)."""
        return self.client is not None or self._tail is not None

    def start(self) -> None:
        if self.client is not None:
            self.client.start()

    def _send(self, cmd: str) -> bool:
        if self.client is not None:
            return self.client.send(cmd)
        if self.following:
            try:
                write_control_command(self.state.run_dir, cmd)
            except OSError as e:
                self.state.add_stderr(f"studio: could not send {cmd} to {self.state.run_dir}: {e}")
                return False
            return True
        return False

    def pause(self) -> None:
        self._send("pause")

    def resume(self) -> None:
        self._send("resume")

    def save(self) -> None:
        self._send("save")

    def stop(self, grace_ms: int = 20_000) -> None:
        if self.client is not None and self.client.running:
            self.state.set_status("stopping")
            self.client.stop(grace_ms)
        elif self.following and self._send("stop"):
            self.state.set_status("stopping")  # the engine saves and exits; its `done` ends the follow
            QTimer.singleShot(grace_ms, self._on_stop_grace_over)

    def _on_stop_grace_over(self) -> None:
        """A followed engine that did not act on stop in time is left to itself (it is not ours to kill), so that
        a studio waiting to close is not held forever."""
        if not self.following or self.state.finished:
            return
        self._follow_timer.stop()
        self.state.add_stderr(f"studio: the engine of {self.state.run_dir} did not act on stop in time; it keeps "
                              f"running on its own (minigpt control {self.state.run_dir} stop)")
        self.state.set_status("running")
        self.following_changed.emit(False)
        self.ended.emit(None)

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
        self.state.run_dir = str(Path(path).parent)  # the folder opened, whatever its (maybe moved) hello says
        if not self.state.finished:
            if follow and run_live(self.state.run_dir):
                self._tail = FileTail(path, result.offset)
                self._follow_timer.start()
                if self.state.status != "paused":
                    self.state.set_status("running")
                self.following_changed.emit(True)
            else:
                self.state.mark_interrupted()
        self.loaded.emit()

    def _on_follow_tick(self) -> None:
        events = self._tail.read_events()
        if not events and not run_live(self.state.run_dir):
            events = self._tail.read_events()  # what the engine wrote just before it let go of the lock
            if not events:
                self.state.mark_interrupted()
        for ev in events:
            self.state.apply(ev)
        if self.state.finished:
            self._follow_timer.stop()
            self.following_changed.emit(False)
            self.ended.emit(None)

    def close(self) -> None:
        self._follow_timer.stop()
