"""RunsTableModel: a QAbstractTableModel over the run folders of a workspace.

Scanning happens in a worker (studio.workers); runs this studio is driving right now overlay their live status.
Knows nothing about the view that shows it.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from PySide6.QtCore import QT_TRANSLATE_NOOP, QAbstractTableModel, QModelIndex, QObject, Qt, Signal

from studio import workers
from studio.i18n import status_text
from studio.models.run_scan import RunInfo, scan_workspace

COLUMNS = (QT_TRANSLATE_NOOP("RunsTableModel", "Name"), QT_TRANSLATE_NOOP("RunsTableModel", "Stage"),
           QT_TRANSLATE_NOOP("RunsTableModel", "Status"), QT_TRANSLATE_NOOP("RunsTableModel", "Steps"),
           QT_TRANSLATE_NOOP("RunsTableModel", "Best val loss"), QT_TRANSLATE_NOOP("RunsTableModel", "Duration"),
           QT_TRANSLATE_NOOP("RunsTableModel", "Started"))      # translated in headerData
RUN_ROLE = Qt.ItemDataRole.UserRole + 1


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h {m:02d}m" if h else (f"{m}m {s:02d}s" if m else f"{s}s")


class RunsTableModel(QAbstractTableModel):
    refreshed = Signal()
    scan_failed = Signal(str)

    def __init__(self, runs_dir: str | Path, parent: QObject | None = None):
        super().__init__(parent)
        self.runs_dir = Path(runs_dir)
        self._runs: list[RunInfo] = []
        self._live: dict[str, str] = {}  # run folder -> status, for runs this studio drives
        self._worker: workers.Worker | None = None
        self._again = False

    # ------------------------------------------------------------------ Qt model API
    def rowCount(self, parent: QModelIndex | None = None) -> int:  # noqa: N802 - Qt API
        return 0 if parent is not None and parent.isValid() else len(self._runs)

    def columnCount(self, parent: QModelIndex | None = None) -> int:  # noqa: N802 - Qt API
        return 0 if parent is not None and parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.tr(COLUMNS[section])
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self._runs):
            return None
        run = self._runs[index.row()]
        col = index.column()
        if role == RUN_ROLE:
            return run
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(run, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            return run.path + (f"\n{run.error}" if run.error else "")
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (3, 4, 5):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:  # sort key
            return self._sort_key(run, col)
        return None

    def _display(self, run: RunInfo, col: int) -> str:
        status = self._live.get(run.path, run.status)
        if col == 0:
            return run.name
        if col == 1:
            return run.stage
        if col == 2:
            if status == "failed" and run.failed_before_training and run.error:
                reason = re.sub(r"(?:[A-Za-z]:)?[\\/][^\s:]*[\\/]", "", run.error)  # folders in the tooltip only
                reason = reason if len(reason) <= 56 else reason[:55] + "…"
                return self.tr("failed before training: {0}").format(reason)
            return status_text(status)
        if col == 3:
            return f"{run.steps:,}" + (f" / {run.total_steps:,}" if run.total_steps else "")
        if col == 4:
            return f"{run.best_val:.4f}" if run.best_val is not None else ""
        if col == 5:
            end = run.ended if run.ended is not None else (time.time() if status == "running" else None)
            return fmt_duration(end - run.started if (end and run.started) else None)
        if col == 6:
            return time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started)) if run.started else ""
        return ""

    def _sort_key(self, run: RunInfo, col: int):
        return (run.name, run.stage, run.status, run.steps, run.best_val if run.best_val is not None else 1e30,
                run.duration_s or 0.0, run.started or 0.0)[col]

    # ------------------------------------------------------------------ our API
    def run_at(self, row: int) -> RunInfo | None:
        return self._runs[row] if 0 <= row < len(self._runs) else None

    def runs(self) -> list[RunInfo]:
        return list(self._runs)

    def find(self, path: str) -> int:
        return next((i for i, r in enumerate(self._runs) if r.path == str(path)), -1)

    def status_of(self, run: RunInfo) -> str:
        return self._live.get(run.path, run.status)

    def set_live_status(self, run_dir: str, status: str | None) -> None:
        """Overlay the status of a run this studio drives (None: forget it and trust the folder again)."""
        if status is None:
            self._live.pop(run_dir, None)
        else:
            self._live[run_dir] = status
        row = self.find(run_dir)
        if row >= 0:
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def set_runs_dir(self, runs_dir: str | Path) -> None:
        self.runs_dir = Path(runs_dir)
        self.set_runs([])
        self.refresh()

    def set_runs(self, runs: list[RunInfo]) -> None:
        self.beginResetModel()
        self._runs = list(runs)
        self.endResetModel()

    def refresh(self) -> None:
        """Rescan the workspace in a worker; `refreshed` fires when the table holds the new list."""
        if self._worker is not None:
            self._again = True
            return
        self._worker = workers.Worker(lambda job, d: scan_workspace(d, job), self.runs_dir)
        self._worker.signals.succeeded.connect(self._on_scanned)
        self._worker.signals.failed.connect(self.scan_failed)
        self._worker.signals.finished.connect(self._on_scan_finished)
        self._worker.start()

    def _on_scanned(self, runs: list[RunInfo]) -> None:
        self.set_runs(runs)
        self.refreshed.emit()

    def _on_scan_finished(self) -> None:
        self._worker = None
        if self._again:
            self._again = False
            self.refresh()
