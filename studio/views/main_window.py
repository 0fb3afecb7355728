"""MainWindow: left navigation (Train, Monitor, Runs, Chat), native menus, shortcuts, status bar (device,
workspace, running jobs), geometry and last page kept in QSettings, and the close-during-a-run question.

Wires the views to the clients and models; owns no process itself (RunManager, ChatClient and DoctorCall do).
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QT_TRANSLATE_NOOP, QByteArray, QTimer, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QWidget,
)

from studio import APP_NAME, settings
from studio.chat_client import ChatClient
from studio.doctor_call import DoctorCall
from studio.engine_cmd import EngineCommand
from studio.i18n import ensure_english_plurals
from studio.models.runs_table import RunsTableModel
from studio.process_client import end_abandoned
from studio.run_manager import RunManager
from studio.views.chat_view import ChatView
from studio.views.close_dialog import CANCEL, KEEP, STOP, ask_close
from studio.views.language_menu import add_language_menu
from studio.views.manual_view import ManualDialog, chapter_for
from studio.views.monitor_tabs import MonitorTabs
from studio.views.runs_view import RunsView
from studio.views.wizard import TrainWizard

PAGES = (QT_TRANSLATE_NOOP("MainWindow", "Train"), QT_TRANSLATE_NOOP("MainWindow", "Monitor"),
         QT_TRANSLATE_NOOP("MainWindow", "Runs"), QT_TRANSLATE_NOOP("MainWindow", "Chat"))   # shown through tr
DOCS = Path(__file__).resolve().parents[2] / "docs" / "STUDIO.md"
STOP_GRACE_MS = 30_000
CLOSE_GRACE_MS = 2_000   # what a chat server or a doctor report gets to exit by itself when the window closes


class MainWindow(QMainWindow):
    def __init__(self, command: EngineCommand | None = None, run_doctor: bool = True):
        super().__init__()
        ensure_english_plurals()              # "1 run training", not "1 run(s) training"
        if command is None:
            saved = settings.value("workspace", "", str)
            use_saved = saved and not os.environ.get("MINIGPT_HOME")
            command = EngineCommand(workspace=Path(saved)) if use_saved else EngineCommand()
        self.command = command
        self.setWindowTitle(APP_NAME)
        self.close_prompt = ask_close           # tests replace this to answer the question
        self.stop_grace_ms = STOP_GRACE_MS
        self.close_grace_ms = CLOSE_GRACE_MS   # chat servers and reports still running at close: then killed
        self.detached = 0
        self._closing = False
        self.table = RunsTableModel(self.command.runs_dir, self)
        self.manager = RunManager(self.command, self.table, self)
        self.doctor = DoctorCall(self.command, self)
        self.chat_client = ChatClient(self.command, self)

        self.wizard = TrainWizard(self.command, checkpoints=self.checkpoints, remember=True)
        self.monitors = MonitorTabs()
        self.runs = RunsView(self.table)
        self.chat = ChatView(self.chat_client, checkpoints=self.checkpoints, command=self.command)
        self.stack = QStackedWidget()
        for w in (self.wizard, self.monitors, self.runs, self.chat):
            self.stack.addWidget(w)
        self.nav = QListWidget()
        self.nav.setObjectName("navList")
        self.nav.addItems([self.tr(name) for name in PAGES])
        self.nav.setFixedWidth(150)
        self.nav.currentRowChanged.connect(self._on_nav_changed)
        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.nav)
        row.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        self.device_label = QLabel(self.tr("device: detecting…"))
        self.workspace_label = QLabel()
        self.jobs_label = QLabel(self.tr("no runs training"))
        for w in (self.device_label, self.workspace_label):
            self.statusBar().addWidget(w)
        self.statusBar().addPermanentWidget(self.jobs_label)
        self.manual: ManualDialog | None = None
        self._build_menus()

        self.wizard.launch_requested.connect(self._on_launch_requested)
        self.manager.session_added.connect(self._on_session_added)
        self.manager.running_changed.connect(self._on_running_changed)
        self.manager.session_ended.connect(self._on_session_ended)
        self.monitors.chat_requested.connect(self.open_chat)
        self.monitors.tab_closed.connect(self.manager.close_session)
        self.runs.open_requested.connect(self.open_run)
        self.runs.resume_requested.connect(self._on_resume_requested)
        self.runs.chat_requested.connect(self.open_chat)
        self.table.refreshed.connect(self.chat.refresh_checkpoints)
        self.doctor.report_ready.connect(self._on_doctor_report)
        self.doctor.failed.connect(self._on_doctor_failed)

        self._show_workspace()
        self._restore()
        self.table.refresh()
        if run_doctor:
            self.doctor.start()

    # ------------------------------------------------------------------ menus
    def _build_menus(self) -> None:
        file = self.menuBar().addMenu(self.tr("&File"))
        self._action(file, self.tr("Open &dataset…"), QKeySequence.StandardKey.Open, self._on_open_dataset)
        self._action(file, self.tr("Open run &config…"), "Ctrl+Shift+R", self._on_open_run_config)
        self._action(file, self.tr("Open &checkpoint…"), "Ctrl+Shift+O", self._on_open_checkpoint)
        self._action(file, self.tr("Open &workspace…"), "Ctrl+Shift+W", self._on_open_workspace)
        file.addSeparator()
        self._action(file, self.tr("&Quit"), QKeySequence.StandardKey.Quit, self.close)
        view = self.menuBar().addMenu(self.tr("&View"))
        for i, name in enumerate(PAGES):
            self._action(view, self.tr(name), f"Ctrl+{i + 1}", lambda _c=False, i=i: self.show_page(i))
        view.addSeparator()
        add_language_menu(view, self)
        help_ = self.menuBar().addMenu(self.tr("&Help"))
        self._action(help_, self.tr("&Manual (this page's chapter)"), QKeySequence.StandardKey.HelpContents,
                     self._on_manual)
        self._action(help_, self.tr("Open &docs"), None, self._on_open_docs)
        self._action(help_, self.tr("&About"), None, self._on_about)

    def _action(self, menu, text, shortcut, slot) -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        a.triggered.connect(slot)
        menu.addAction(a)
        return a

    # ------------------------------------------------------------------ navigation
    def show_page(self, i: int) -> None:
        self.nav.setCurrentRow(i)

    def _on_nav_changed(self, i: int) -> None:
        self.stack.setCurrentIndex(max(0, i))
        if PAGES[i] == "Runs":
            self.table.refresh()
        elif PAGES[i] == "Chat":
            self.chat.refresh_checkpoints()

    def checkpoints(self) -> list[tuple[str, str]]:
        """(label, path) of the best and latest checkpoint of every run, newest run first."""
        out = []
        for run in self.table.runs():
            for which, path in ((self.tr("best"), run.best_ckpt), (self.tr("latest"), run.latest_ckpt)):
                if path and all(p != path for _, p in out):
                    out.append((f"{run.name} · {Path(path).name} ({which})", path))
        return out

    # ------------------------------------------------------------------ runs
    def _on_launch_requested(self, yaml_text: str) -> None:
        self.manager.launch(yaml_text, extra=self.wizard.hardware.processes.launch_flags())  # --nproc N

    def _on_resume_requested(self, run_dir: str) -> None:
        self.manager.resume(run_dir)

    def open_run(self, run_dir: str) -> None:
        self.monitors.add(self.manager.open(run_dir))
        self.show_page(1)

    def _on_session_added(self, session) -> None:
        self.monitors.add(session)
        self.show_page(1)

    def _on_session_ended(self, session) -> None:
        if self._closing and self.manager.running_count() == 0:
            QTimer.singleShot(0, self.close)

    def _on_running_changed(self, n: int) -> None:
        self.jobs_label.setText(self.tr("%n run(s) training", "", n) if n else self.tr("no runs training"))

    # ------------------------------------------------------------------ chat
    def open_chat(self, checkpoint: str) -> None:
        self.show_page(3)
        self.chat.load_checkpoint(checkpoint)

    # ------------------------------------------------------------------ doctor
    def _on_doctor_report(self, report: dict) -> None:
        self.wizard.set_doctor_report(report)
        gpus = (report.get("cuda") or {}).get("gpus") or []
        device = f"{len(gpus)}× {gpus[0]['name']}" if gpus else ("Apple MPS" if (report.get("mps") or {}).get(
            "available") else self.tr("CPU, {0} cores").format((report.get("cpu") or {}).get("cores", "?")))
        self.device_label.setText(self.tr("device: {0}").format(device))

    def _on_doctor_failed(self, message: str) -> None:
        self.device_label.setText(self.tr("device: unknown (doctor failed)"))
        self.device_label.setToolTip(message)
        self.wizard.hardware.set_error(message)

    # ------------------------------------------------------------------ menu slots
    def _on_open_dataset(self) -> None:
        self.show_page(0)
        self.wizard.go_to(0)
        self.wizard.data._on_add_clicked()

    def _on_open_run_config(self) -> None:
        start = settings.value("wizard/last_config_dir", str(Path.home()), str)
        path, _ = QFileDialog.getOpenFileName(self, self.tr("Open a run config"), start,
                                              self.tr("Run config (*.yaml *.yml);;All (*)"))
        if path:
            self.open_run_config(path)

    def open_run_config(self, path: str) -> None:
        """Load a saved run YAML into the wizard (every page) and show its Review page."""
        self.show_page(0)
        why = self.wizard.open_config(path)
        if why:
            QMessageBox.warning(self, self.tr("Open run config"), why)
        else:
            settings.set_value("wizard/last_config_dir", str(Path(path).parent))

    def _on_open_checkpoint(self) -> None:
        path = QFileDialog.getExistingDirectory(self, self.tr("Open a checkpoint folder"), str(self.command.runs_dir))
        if path:
            self.open_chat(path)

    def _on_open_workspace(self) -> None:
        if self.manager.running_count():
            QMessageBox.information(self, self.tr("Open workspace"),
                                    self.tr("Stop the running runs before switching workspace."))
            return
        path = QFileDialog.getExistingDirectory(self, self.tr("Open a workspace folder"), str(self.command.workspace))
        if path:
            self.set_workspace(path)

    def set_workspace(self, path: str) -> None:
        self.command.workspace = Path(path)
        settings.set_value("workspace", str(path))
        self.table.set_runs_dir(self.command.runs_dir)
        self.wizard.data.workspace = str(path)
        self._show_workspace()

    def _show_workspace(self) -> None:
        self.workspace_label.setText(self.tr("workspace: {0}").format(self.command.workspace))

    def _on_manual(self) -> None:
        """Open the manual at the chapter that explains the page on screen (on the Stage page: the chosen stage's)."""
        page = PAGES[self.stack.currentIndex()]
        stage = self.wizard.stage.top.values()[0].get("stage", {}).get("name", "")
        if self.manual is None:
            self.manual = ManualDialog(self)
        self.manual.open_chapter(chapter_for(page, self.wizard.index, stage))
        self.manual.show()
        self.manual.raise_()

    def _on_open_docs(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(DOCS)))

    def _on_about(self) -> None:
        QMessageBox.about(self, self.tr("About {0}").format(APP_NAME),
                          f"<h3>{APP_NAME}</h3>" + self.tr(
                              "<p>Train small GPT-style language models from scratch, watch them learn, and talk to "
                              "the result.</p><p>The studio drives the <code>minigpt</code> engine as separate "
                              "processes; every run is also a YAML file you can run from the command line.</p>"))

    # ------------------------------------------------------------------ settings and closing
    def _restore(self) -> None:
        geometry = settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 820)
        self.show_page(settings.value("window/page", 0, int) % len(PAGES))

    def _save(self) -> None:
        settings.set_value("window/geometry", self.saveGeometry())
        settings.set_value("window/page", self.nav.currentRow())
        self.chat.save_settings()
        settings.settings().sync()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        live = self.manager.running_count()
        if live and not self._closing:
            answer = self.close_prompt(self, live)
            if answer == CANCEL:
                event.ignore()
                return
            if answer == STOP:
                self._closing = True
                self.statusBar().showMessage(self.tr("Stopping runs: each saves a checkpoint, then the studio closes…"))
                self.manager.stop_all(self.stop_grace_ms)
                event.ignore()
                return
            if answer == KEEP:
                self.detached = self.manager.detach_all()
        elif live and self._closing:
            event.ignore()
            return
        self._save()
        self.wizard.shutdown()
        self.chat_client.close()
        self.chat.close_servers()
        self.doctor.shutdown()
        end_abandoned(self.close_grace_ms)   # each asked to stop above; wait briefly, then kill what lingers
        app = QApplication.instance()
        if app is not None:
            app.setProperty("detached_runs", self.detached)
        event.accept()
