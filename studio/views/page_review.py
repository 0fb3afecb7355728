"""Wizard page 5, Review: the run's YAML (editable, validated with engine.config and its paths checked as you
type), what it will cost (memory, time, warnings), "Copy CLI command", "Save config" and "Launch".
The YAML shown here is exactly what `minigpt train` receives.
"""

from __future__ import annotations

import html
import time
from pathlib import Path

from PySide6.QtCore import QT_TR_NOOP, QTimer, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QWidget

from engine.estimate import run_estimate
from studio import settings
from studio.config_messages import config_error_text
from studio.models.cost import Cost, human_bytes
from studio.models.path_check import path_problem
from studio.models.run_document import check_document, parse_yaml_document
from studio.views.estimate_box import human, warnings_html
from studio.views.wizard_page import WizardPage


class ReviewPage(WizardPage):
    title = QT_TR_NOOP("5 · Review and launch")
    subtitle = QT_TR_NOOP("The run as one YAML document. Edit it if you like; it is checked as you type.")
    launch_requested = Signal(str)   # the YAML text

    def __init__(self, doc, command, parent: QWidget | None = None):
        super().__init__(doc, parent)
        self.command = command
        self.editor = QPlainTextEdit()
        self.editor.setObjectName("yamlEditor")
        self.editor.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.editor.textChanged.connect(self._on_text_changed)
        self.cost = QLabel()
        self.cost.setObjectName("reviewCost")
        self.cost.setWordWrap(True)
        self.cost_source = None         # callable(Config, memory bytes) -> Cost, set by the wizard
        self.config = None              # the Config of the text when it is valid
        self.state = QLabel()
        self.state.setObjectName("reviewState")
        self.state.setWordWrap(True)
        self.copy = QPushButton(self.tr("Copy CLI command"))
        self.copy.clicked.connect(self._on_copy_clicked)
        self.save = QPushButton(self.tr("Save config…"))
        self.save.clicked.connect(self._on_save_clicked)
        self.launch = QPushButton(self.tr("Launch"))
        self.launch.setObjectName("primaryButton")
        self.launch.clicked.connect(self._on_launch_clicked)
        row = QHBoxLayout()
        row.addWidget(self.copy)
        row.addWidget(self.save)
        row.addStretch(1)
        row.addWidget(self.launch)
        self.outer.addWidget(self.editor, 1)
        self.outer.addWidget(self.cost)
        self.outer.addWidget(self.state)
        self.outer.addLayout(row)
        self._timer = QTimer(self, singleShot=True, interval=250)
        self._timer.timeout.connect(self._validate)
        self._reason: str | None = None

    def entered(self) -> None:
        self.editor.setPlainText(self.doc.yaml_text())
        self._validate()

    def reason(self) -> str | None:
        return self._reason

    def text(self) -> str:
        return self.editor.toPlainText()

    def _on_text_changed(self) -> None:
        self._timer.start()

    def config_folder(self) -> Path:
        """Where Launch writes the YAML, so where the engine reads its relative paths from."""
        return Path(self.command.studio_dir, "configs")

    def _validate(self) -> None:
        doc, why = parse_yaml_document(self.text())
        self.config = None
        if doc is not None:
            check = check_document(doc)
            why = "" if check.ok else config_error_text(check.key, check.message, check.hint)
            if check.ok:
                problem = path_problem(check.config, self.config_folder())
                why = str(problem) if problem else ""
                self.config = check.config
        self._reason = why or None
        self.refresh_cost()
        if why:
            self.state.setText(f"<span style='color:#d9534f'>✗ {html.escape(why)}</span>")
        else:
            self.state.setText(self.tr("<span style='color:#16a34a'>✓ Valid run configuration</span>"))
        for b in (self.copy, self.save, self.launch):
            b.setEnabled(not why)
        self.validity_changed.emit()

    def refresh_cost(self) -> None:
        """Memory, time and warnings of the YAML as it stands (the time once the speed probe has answered)."""
        if self.config is None:
            self.cost.setText("")
            self.cost.hide()
            return
        cfg = self.config
        precision = cfg.hardware.precision if cfg.hardware.precision != "auto" else "fp32"
        est = run_estimate(cfg, cfg.model.vocab_size or cfg.tokenizer.vocab_size, precision)
        cost = self.cost_source(cfg, est["memory_bytes"]) if self.cost_source else Cost()
        facts = self.tr("<b>Cost</b>: {0} parameters · {1} tokens · ~{2} memory · time: <b>{3}</b>").format(
            human(est["params"]), human(est["total_tokens"]), human_bytes(est["memory_bytes"]),
            html.escape(cost.eta_text))
        if cost.rate_text:
            facts += f" <span style='color:gray'>({html.escape(cost.rate_text)})</span>"
        warn = warnings_html(cost)
        self.cost.setText(facts + (f"<br>{warn}" if warn else ""))
        self.cost.show()

    def write_config(self, folder: Path | None = None) -> Path:
        folder = folder or Path(self.command.studio_dir, "configs")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / time.strftime("run-%Y%m%d-%H%M%S.yaml")
        i = 1
        while path.exists():
            path = folder / time.strftime(f"run-%Y%m%d-%H%M%S-{i}.yaml")
            i += 1
        path.write_text(self.text(), encoding="utf-8")
        return path

    def cli_command(self, path: Path) -> str:
        return self.command.shell_line(self.command.argv("train", str(path)))

    def _on_copy_clicked(self) -> None:
        path = self.write_config()
        line = self.cli_command(path)
        QGuiApplication.clipboard().setText(line)
        self.state.setText(self.tr("Copied: <code>{0}</code>").format(html.escape(line)))

    def _on_save_clicked(self) -> None:
        start = settings.value("wizard/last_config_dir", str(Path.home()), str)
        path, _ = QFileDialog.getSaveFileName(self, self.tr("Save run config"), str(Path(start, "run.yaml")),
                                              "YAML (*.yaml)")
        if path:
            Path(path).write_text(self.text(), encoding="utf-8")
            settings.set_value("wizard/last_config_dir", str(Path(path).parent))
            self.state.setText(self.tr("Saved to {0}").format(html.escape(path)))

    def _on_launch_clicked(self) -> None:
        self._validate()
        if self._reason is None:
            self.launch_requested.emit(self.text())
