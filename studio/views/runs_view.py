"""The Runs page: a sortable table of every run in the workspace and what can be done with one: open (re-plot
from events.jsonl), resume, open its folder, chat with its best or latest checkpoint, delete (after asking); and with
several selected, compare their loss curves in one plot (studio/views/runs_overlay.py).
"""

from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from studio.models.run_scan import RunInfo, delete_run
from studio.models.runs_table import RUN_ROLE, RunsTableModel
from studio.views.elided_label import ElidedLabel
from studio.views.runs_overlay import LossOverlay

AUTO_REFRESH_MS = 5000


class RunsView(QWidget):
    open_requested = Signal(str)      # run folder
    resume_requested = Signal(str)    # run folder
    chat_requested = Signal(str)      # checkpoint folder

    def __init__(self, model: RunsTableModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = model
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(model)
        self.proxy.setSortRole(Qt.ItemDataRole.UserRole)
        self.table = QTableView()
        self.table.setObjectName("runsTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(6, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        # several rows (Ctrl/Shift-click) for Compare; the other actions take exactly one
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # a narrow window keeps date and name ends
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, 7):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.doubleClicked.connect(lambda _i: self._on_open_clicked())
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self._selected_path: str | None = None

        title = QLabel(self.tr("Runs"))
        title.setObjectName("pageTitle")
        self.where = ElidedLabel(mode=Qt.TextElideMode.ElideMiddle)   # a long workspace path: full one as tooltip
        self.where.setObjectName("pageSubtitle")
        self.open = QPushButton(self.tr("Open"))
        self.resume = QPushButton(self.tr("Resume"))
        self.folder = QPushButton(self.tr("Open folder"))
        self.chat_best = QPushButton(self.tr("Chat with best"))
        self.chat_latest = QPushButton(self.tr("Chat with latest"))
        self.delete = QPushButton(self.tr("Delete…"))
        self.delete.setShortcut(QKeySequence.StandardKey.Delete)
        self.compare = QPushButton(self.tr("Compare loss"))
        self.compare.setToolTip(self.tr("Select several runs (Ctrl- or Shift-click) to overlay their loss curves"))
        self.compare.clicked.connect(self._on_compare_clicked)
        self.overlay: LossOverlay | None = None
        self.refresh = QPushButton(self.tr("Refresh"))
        self.refresh.setShortcut(QKeySequence.StandardKey.Refresh)
        self.open.clicked.connect(self._on_open_clicked)
        self.resume.clicked.connect(self._on_resume_clicked)
        self.folder.clicked.connect(self._on_folder_clicked)
        self.chat_best.clicked.connect(lambda: self._on_chat_clicked("best"))
        self.chat_latest.clicked.connect(lambda: self._on_chat_clicked("latest"))
        self.delete.clicked.connect(self._on_delete_clicked)
        self.refresh.clicked.connect(model.refresh)
        buttons = QHBoxLayout()
        for b in (self.open, self.resume, self.folder, self.chat_best, self.chat_latest, self.delete, self.compare):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(24, 16, 24, 16)
        lay.addWidget(title)
        lay.addWidget(self.where)
        lay.addWidget(self.table, 1)
        lay.addLayout(buttons)
        model.refreshed.connect(self._on_refreshed)
        model.modelReset.connect(self._update_buttons)
        self._timer = QTimer(self, interval=AUTO_REFRESH_MS)
        self._timer.timeout.connect(self._on_auto_refresh)
        self._timer.start()
        self._on_refreshed()

    def selected(self) -> RunInfo | None:
        """The run the single-run actions apply to: the selection when it is exactly one row."""
        rows = self.table.selectionModel().selectedRows()
        if len(rows) != 1:
            return None
        return self.proxy.data(rows[0], RUN_ROLE)

    def selected_runs(self) -> list[RunInfo]:
        """Every selected run, in the table's order."""
        rows = sorted(self.table.selectionModel().selectedRows(), key=lambda i: i.row())
        return [r for r in (self.proxy.data(i, RUN_ROLE) for i in rows) if r is not None]

    def select_path(self, path: str) -> bool:
        row = self.model.find(path)
        if row < 0:
            return False
        self.table.selectRow(self.proxy.mapFromSource(self.model.index(row, 0)).row())
        return True

    def _on_selection_changed(self, *_args) -> None:
        run = self.selected()
        if run is not None:
            self._selected_path = run.path
        self._update_buttons()

    def _on_refreshed(self) -> None:
        if self._selected_path:
            self.select_path(self._selected_path)   # keep the selection across rescans
        n = self.model.rowCount()
        self.where.setText(self.tr("%n run(s) in {0}", "", n).format(self.model.runs_dir))
        self._update_buttons()

    def _on_auto_refresh(self) -> None:
        if self.isVisible() and any(self.model.status_of(r) == "running" for r in self.model.runs()):
            self.model.refresh()

    def _update_buttons(self) -> None:
        run = self.selected()
        status = self.model.status_of(run) if run else ""
        self.open.setEnabled(run is not None)
        self.folder.setEnabled(run is not None)
        self.resume.setEnabled(run is not None and run.latest_ckpt is not None
                               and status in ("interrupted", "stopped", "failed"))
        self.chat_best.setEnabled(run is not None and run.best_ckpt is not None)
        self.chat_latest.setEnabled(run is not None and run.latest_ckpt is not None)
        self.delete.setEnabled(run is not None and status != "running")
        failed_start = run is not None and status == "failed" and run.failed_before_training
        self.delete.setText(self.tr("Delete failed start") if failed_start else self.tr("Delete…"))
        self.delete.setToolTip(self.tr("It never trained: only its log goes") if failed_start else "")
        self.compare.setEnabled(len(self.table.selectionModel().selectedRows()) >= 2)

    def _on_open_clicked(self) -> None:
        run = self.selected()
        if run:
            self.open_requested.emit(run.path)

    def _on_compare_clicked(self) -> None:
        runs = self.selected_runs()
        if len(runs) < 2:
            return
        if self.overlay is None:
            self.overlay = LossOverlay(self)
        self.overlay.set_runs(runs)
        self.overlay.show()
        self.overlay.raise_()

    def _on_resume_clicked(self) -> None:
        run = self.selected()
        if run:
            self.resume_requested.emit(run.path)

    def _on_folder_clicked(self) -> None:
        run = self.selected()
        if run:
            QDesktopServices.openUrl(QUrl.fromLocalFile(run.path))

    def _on_chat_clicked(self, which: str) -> None:
        run = self.selected()
        path = (run.best_ckpt if which == "best" else run.latest_ckpt) if run else None
        if path:
            self.chat_requested.emit(path)

    def _on_delete_clicked(self) -> None:
        run = self.selected()
        if run is None:
            return
        if run.failed_before_training:   # nothing but the log of a failed set-up: no question needed
            self._delete(run)
            return
        answer = QMessageBox.question(self, self.tr("Delete run"),
                                      self.tr("Delete the run folder\n{0}\nwith its checkpoints and events? This "
                                              "cannot be undone.").format(run.path),
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                                      QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Yes:
            self._delete(run)

    def _delete(self, run: RunInfo) -> None:
        try:
            delete_run(run.path, self.model.runs_dir)
        except (OSError, ValueError) as e:
            QMessageBox.warning(self, self.tr("Delete run"), self.tr("Could not delete {0}:\n{1}").format(run.path, e))
        self.model.refresh()
