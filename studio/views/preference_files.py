"""PreferenceFiles: the Data page's list of preference files in the workspace (A/B chat choices, written by
studio.models.preferences), each with its record count, tie count and a preview of its pairs.

Listing is a directory read; counting and previewing run in a worker. "Use for training" hands the file to the
page's own file list (the stage that consumes preference pairs, DPO, decides what to do with ties: skip them).
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout

from engine.data import formats
from studio import workers
from studio.models.preferences import PREFERENCES_DIR, list_preference_files
from studio.views.record_render import render_records

PREVIEW_RECORDS = 5


def read_preferences(job: workers.Job, path: str) -> dict:
    """Worker: records, bad lines and ties of one preference file, and its first pairs."""
    report = formats.validate_file(path, kind="preference", cancelled=job.is_cancelled)
    ties = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            ties += '"tie": true' in line   # our own writer's spelling; a cheap count, no second JSON parse
    preview = formats.preview_records(path, PREVIEW_RECORDS, kind="preference")
    return {"path": path, "records": report.records, "bad": report.bad_count, "ties": ties, "preview": preview}


class PreferenceFiles(QGroupBox):
    use_requested = Signal(str)          # path of a preference file to train on
    preview_ready = Signal(str)          # HTML preview of the selected file, for the page's preview pane

    def __init__(self, workspace: str | Path, parent=None):
        super().__init__(parent)
        self.setTitle(self.tr("Preference data in this workspace"))
        self.workspace = Path(workspace)
        self.setObjectName("preferenceFiles")
        self.list = QListWidget()
        self.list.setObjectName("preferenceList")
        self.list.setMaximumHeight(96)
        self.list.currentItemChanged.connect(self._on_selected)
        self.info = QLabel()
        self.info.setObjectName("preferenceInfo")
        self.info.setWordWrap(True)
        self.use = QPushButton(self.tr("Use for training"))
        self.use.setToolTip(self.tr("Add this file to the data files (for the DPO stage)"))
        self.use.setEnabled(False)
        self.use.clicked.connect(self._on_use_clicked)
        self.preview_html = ""
        lay = QVBoxLayout(self)
        lay.addWidget(self.list)
        row = QHBoxLayout()
        row.addWidget(self.info, 1)
        row.addWidget(self.use, 0, Qt.AlignmentFlag.AlignTop)
        lay.addLayout(row)
        self.refresh()

    def refresh(self) -> None:
        current = self._current()
        self.list.clear()
        for path in list_preference_files(self.workspace):
            item = QListWidgetItem(f"{path.name}  —  {path.stat().st_size / 1024:.1f} KB")
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            item.setToolTip(str(path))
            self.list.addItem(item)
            if str(path) == current:
                self.list.setCurrentItem(item)
        self.list.setVisible(self.list.count() > 0)
        self.use.setVisible(self.list.count() > 0)
        self.info.setText(self.tr("Choices made in Chat → Compare A/B, saved under {0}/ for DPO.").format(
            PREFERENCES_DIR) if self.list.count() else self.tr("None yet: choose between two replies in Chat → "
                                                                 "Compare A/B and each choice is saved here as a "
                                                                 "preference pair for DPO."))

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.refresh()     # the A/B chat may have written a file since the page was last shown
        super().showEvent(event)

    def _current(self) -> str | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def _on_selected(self, *_args) -> None:
        path = self._current()
        self.use.setEnabled(path is not None)
        if path is None:
            return
        w = workers.Worker(read_preferences, path)
        w.signals.succeeded.connect(self._on_read)     # bound slots: delivered in the UI thread
        w.signals.failed.connect(self._on_read_failed)
        w.start()

    def _on_read_failed(self, message: str) -> None:
        self._on_read({"path": self._current() or "", "error": message})

    def _on_read(self, result: dict) -> None:
        path = result["path"]
        if path != self._current():
            return
        name = html.escape(Path(path).name)
        if "error" in result:
            self.preview_html = f"<b>{name}</b>: <span style='color:#d9534f'>{html.escape(result['error'])}</span>"
        else:
            ties = result["ties"]
            self.preview_html = (
                self.tr("<p><b>{0}</b> — preference pairs from A/B chat: {1:,} records, {2:,} ties (skipped by "
                        "DPO), {3:,} bad lines</p>").format(name, result["records"], ties, result["bad"])
                + render_records(result["preview"], "preference"))
        self.preview_ready.emit(self.preview_html)

    def _on_use_clicked(self) -> None:
        path = self._current()
        if path:
            self.use_requested.emit(path)

