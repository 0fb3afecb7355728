"""RunManager: every run this studio shows: launches new runs and resumes (one EngineClient each), opens
past runs for re-plotting and follows runs trained by an engine outside this studio, keeps the Runs table's live
status in step, and stops or detaches them on exit.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from studio.engine_client import EngineClient
from studio.engine_cmd import EngineCommand
from studio.models.run_state import RunState
from studio.models.runs_table import RunsTableModel
from studio.run_session import RunSession


class RunManager(QObject):
    session_added = Signal(object)        # RunSession
    session_ended = Signal(object)        # RunSession
    running_changed = Signal(int)         # number of runs training (training_count)

    def __init__(self, command: EngineCommand, table: RunsTableModel, parent: QObject | None = None):
        super().__init__(parent)
        self.command = command
        self.table = table
        self.sessions: list[RunSession] = []

    # ------------------------------------------------------------------ starting
    def launch(self, yaml_text: str, name: str = "", extra: list[str] = ()) -> RunSession:
        folder = Path(self.command.studio_dir, "configs")
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = folder / f"run-{stamp}.yaml"
        i = 1
        while path.exists():
            path = folder / f"run-{stamp}-{i}.yaml"
            i += 1
        path.write_text(yaml_text, encoding="utf-8")
        return self._start(self.command.train(path, extra), name or f"new run {stamp}", path.stem)

    def resume(self, run_dir: str) -> RunSession:
        key = str(Path(run_dir))
        for s in self.sessions:  # one engine per run folder: a second click finds the first one (live or starting)
            if key in (str(Path(s.state.run_dir or "")), s.resume_of) and (s.live or s.resume_of == key):
                return s
        return self._start(self.command.resume(run_dir), Path(run_dir).name, Path(run_dir).name + "-resume",
                           replay_from=run_dir)

    def _start(self, argv: list[str], name: str, log_name: str, replay_from: str | None = None) -> RunSession:
        log = Path(self.command.studio_dir, "logs", f"{log_name}-{time.strftime('%H%M%S')}.stderr")
        client = EngineClient(argv, stderr_path=log)
        state = RunState(name)
        session = RunSession(state, client, parent=self)
        state.status_changed.connect(lambda status, s=session: self._on_status(s, status))
        session.ended.connect(lambda _o, s=session: self._on_ended(s))
        self.sessions.append(session)
        self.session_added.emit(session)
        client.started.connect(lambda: self.running_changed.emit(self.training_count()))
        if replay_from:
            session.resume_of = str(Path(replay_from))
            session.load(replay_from, follow=False)
            session.loaded.connect(session.start)
        else:
            session.start()
        self.running_changed.emit(self.training_count())
        return session

    def open(self, run_dir: str) -> RunSession:
        """A monitor for a past (or background) run, re-plotted from its events.jsonl."""
        existing = self.session_for(run_dir)
        if existing is not None:
            return existing
        session = RunSession(RunState(Path(run_dir).name), parent=self)
        self.sessions.append(session)
        # A run an engine outside this studio trains (kept running when the studio closed) counts as training
        # and is controlled through its folder while we follow it.
        session.state.status_changed.connect(lambda status, s=session: self._on_status(s, status))
        session.following_changed.connect(lambda _on: self.running_changed.emit(self.training_count()))
        session.ended.connect(lambda _o, s=session: self._on_ended(s))
        session.load(run_dir)
        self.session_added.emit(session)
        return session

    # ------------------------------------------------------------------ queries
    def session_for(self, run_dir: str) -> RunSession | None:
        run_dir = str(Path(run_dir))
        return next((s for s in self.sessions if s.state.run_dir and str(Path(s.state.run_dir)) == run_dir), None)

    def live_sessions(self) -> list[RunSession]:
        return [s for s in self.sessions if s.live]

    def running_count(self) -> int:
        return len(self.live_sessions())

    def training_count(self) -> int:
        """Live runs that have not reported their end: an engine that sent `done` and is still exiting has stopped
        training (the status bar says so at once), though its process still counts for closing the window."""
        return sum(1 for s in self.live_sessions() if not s.state.finished)

    def close_session(self, session: RunSession) -> None:
        if session.live:
            return
        session.close()
        if session in self.sessions:
            self.sessions.remove(session)
        session.deleteLater()

    # ------------------------------------------------------------------ exit
    def stop_all(self, grace_ms: int = 20_000) -> None:
        for s in self.live_sessions():
            s.stop(grace_ms)

    def detach_all(self) -> int:
        live = self.live_sessions()
        for s in live:
            s.detach()
        return len(live)

    # ------------------------------------------------------------------ slots
    def _on_status(self, session: RunSession, status: str) -> None:
        self.running_changed.emit(self.training_count())
        if session.state.run_dir:
            self.table.set_live_status(session.state.run_dir, status if session.live else None)
            if self.table.find(session.state.run_dir) < 0:
                self.table.refresh()

    def _on_ended(self, session: RunSession) -> None:
        session.resume_of = None
        if session.state.run_dir:
            self.table.set_live_status(session.state.run_dir, None)
        self.table.refresh()
        self.session_ended.emit(session)
        self.running_changed.emit(self.training_count())
