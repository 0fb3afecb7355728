"""DoctorCall: runs `minigpt doctor --json` as a process and hands back the parsed report.

The wizard builds its stage, preset, hardware and precision options from this report instead of hard-coding them.
"""

from __future__ import annotations

import json

from PySide6.QtCore import QObject, QProcess, Signal


class DoctorCall(QObject):
    report_ready = Signal(dict)
    failed = Signal(str)

    def __init__(self, command, parent: QObject | None = None):
        super().__init__(parent)
        self._command = command
        self._proc: QProcess | None = None
        self.report: dict | None = None

    def start(self) -> None:
        if self._proc is not None:
            return
        argv = self._command.doctor()
        self._proc = QProcess(self)
        self._proc.finished.connect(self._on_finished)
        self._proc.errorOccurred.connect(self._on_error)
        self._proc.start(argv[0], argv[1:])

    @property
    def running(self) -> bool:
        return self._proc is not None

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self._proc is not None:
            self._proc.deleteLater()
            self._proc = None
            self.failed.emit("could not start `minigpt doctor`; is the engine installed?")

    def _on_finished(self, exit_code: int, _status: QProcess.ExitStatus) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        out = bytes(proc.readAllStandardOutput().data()).decode("utf-8", errors="replace")
        err = bytes(proc.readAllStandardError().data()).decode("utf-8", errors="replace")
        proc.deleteLater()
        try:
            report = json.loads(out)
            if not isinstance(report, dict) or "options" not in report:
                raise ValueError("no 'options' in the report")
        except ValueError as e:
            tail = "\n".join(err.strip().splitlines()[-5:])
            message = f"`minigpt doctor --json` failed (exit code {exit_code}): {e}"
            self.failed.emit(message + (f"\n{tail}" if tail else ""))
            return
        self.report = report
        self.report_ready.emit(report)
