"""DoctorCall: runs `minigpt doctor --json` as a process and hands back the parsed report.

The wizard builds its stage, preset, hardware and precision options from this report instead of hard-coding them.
"""

from __future__ import annotations

import json

from PySide6.QtCore import QObject, Signal

from studio.process_client import ProcessClient, ProcessOutcome


class DoctorCall(QObject):
    report_ready = Signal(dict)
    failed = Signal(str)

    def __init__(self, command, parent: QObject | None = None):
        super().__init__(parent)
        self._command = command
        self._proc: ProcessClient | None = None
        self.report: dict | None = None

    def start(self) -> None:
        if self._proc is not None:
            return
        self._proc = ProcessClient(self._command.doctor(), events=False, tail_lines=5, parent=self)
        self._proc.finished.connect(self._on_finished)
        self._proc.start()

    @property
    def running(self) -> bool:
        return self._proc is not None

    def shutdown(self) -> None:
        """The window is closing: end a report still being written (it has nothing to save)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.abandon(0)

    def _on_finished(self, outcome: ProcessOutcome) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.deleteLater()
        if outcome.start_error:
            self.failed.emit("could not start `minigpt doctor`; is the engine installed?")
            return
        try:
            report = json.loads(outcome.stdout.decode("utf-8", errors="replace"))
            if not isinstance(report, dict) or "options" not in report:
                raise ValueError("no 'options' in the report")
        except ValueError as e:
            message = f"`minigpt doctor --json` failed (exit code {outcome.exit_code}): {e}"
            self.failed.emit(message + (f"\n{outcome.stderr_tail}" if outcome.stderr_tail else ""))
            return
        self.report = report
        self.report_ready.emit(report)
