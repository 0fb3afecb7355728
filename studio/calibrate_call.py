"""CalibrationCall: runs `minigpt doctor --calibrate PRESET --json` in the background and remembers the answers.

One probe at a time; asking for another while one runs queues only the newest request. Results are kept per
(preset, device, precision) for the session; the engine also caches them in the workspace, so a later session
gets them back in about a second. Knows nothing about widgets or how the time is shown.
"""

from __future__ import annotations

import json

from PySide6.QtCore import QObject, QProcess, Signal

Request = tuple[str, str, str]        # (preset, device, precision) as the wizard holds them ("auto" allowed)


class CalibrationCall(QObject):
    calibrated = Signal(object, dict)     # the request, the engine's result
    failed = Signal(object, str)          # the request, why

    def __init__(self, command, parent: QObject | None = None):
        super().__init__(parent)
        self._command = command
        self._proc: QProcess | None = None
        self._running: Request | None = None
        self._pending: Request | None = None
        self.results: dict[Request, dict] = {}
        self.errors: dict[Request, str] = {}

    def result(self, request: Request) -> dict | None:
        return self.results.get(request)

    def busy_with(self, request: Request) -> bool:
        return request in (self._running, self._pending)

    def request(self, preset: str, device: str = "auto", precision: str = "auto") -> None:
        """Measure unless known, failed already, or on its way."""
        req = (preset, device, precision)
        if req in self.results or req in self.errors or self.busy_with(req):
            return
        if self._proc is not None:
            self._pending = req
            return
        self._start(req)

    def _start(self, req: Request) -> None:
        preset, device, precision = req
        argv = self._command.argv("doctor", "--calibrate", preset, "--device", device, "--precision", precision,
                                  "--json")
        self._running = req
        self._proc = QProcess(self)
        self._proc.finished.connect(self._on_finished)
        self._proc.errorOccurred.connect(self._on_error)
        self._proc.start(argv[0], argv[1:])

    def shutdown(self) -> None:
        self._pending = None
        if self._proc is not None:
            self._proc.kill()
            self._proc.waitForFinished(2000)

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self._proc is not None:
            self._finish("could not start `minigpt doctor --calibrate`; is the engine installed?", None)

    def _on_finished(self, exit_code: int, _status: QProcess.ExitStatus) -> None:
        if self._proc is None:
            return
        out = bytes(self._proc.readAllStandardOutput().data()).decode("utf-8", errors="replace")
        err = bytes(self._proc.readAllStandardError().data()).decode("utf-8", errors="replace")
        try:
            result = json.loads(out.strip().splitlines()[-1]) if out.strip() else None
            if not isinstance(result, dict) or not result.get("flops_per_s"):
                raise ValueError
        except ValueError:
            lines = [ln for ln in err.strip().splitlines() if ln.strip()]
            why = next((ln[7:] for ln in lines if ln.startswith("error: ")), lines[-1] if lines else "")
            failed = self.tr("the speed probe failed (exit code {0})").format(exit_code)
            self._finish(failed + (f": {why}" if why else ""), None)
            return
        self._finish("", result)

    def _finish(self, error: str, result: dict | None) -> None:
        proc, req = self._proc, self._running
        self._proc, self._running = None, None
        if proc is not None:
            proc.deleteLater()
        if result is not None:
            self.results[req] = result
            self.calibrated.emit(req, result)
        else:
            self.errors[req] = error
            self.failed.emit(req, error)
        nxt, self._pending = self._pending, None
        if nxt is not None and nxt not in self.results and nxt not in self.errors:
            self._start(nxt)
