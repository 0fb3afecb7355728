"""The Train wizard: five pages (data, tokenizer, stage, hardware, review) over one RunDocument.

A step bar on top, Back / Next below; Next is disabled while the page's `reason()` says why, and the reason
is shown beside it. Launching is the Review page's job; the wizard only forwards its request. Once the doctor
has reported the hardware, the wizard has the engine measure this machine's speed in the background (one probe
per preset, device and precision) and the Stage and Review pages show the training time from it.
"""

from __future__ import annotations

import yaml
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QStackedWidget, QVBoxLayout, QWidget

from engine.config import Config
from studio import settings
from studio.calibrate_call import CalibrationCall
from studio.i18n import tr
from studio.models.cost import Cost, run_cost
from studio.models.run_document import RunDocument, check_document
from studio.models.run_file import load_run_file
from studio.views.page_data import DataPage
from studio.views.page_hardware import HardwarePage
from studio.views.page_review import ReviewPage
from studio.views.page_stage import StagePage
from studio.views.page_tokenizer import TokenizerPage


class TrainWizard(QWidget):
    launch_requested = Signal(str)   # YAML text of the run
    page_changed = Signal(int)

    def __init__(self, command, checkpoints=lambda: [], knobs: dict | None = None, remember: bool = False,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.remember = remember        # keep the values in QSettings and start from them next time
        self.doc = RunDocument(knobs)
        self.data = DataPage(self.doc, str(command.workspace))
        self.tokenizer = TokenizerPage(self.doc, command)
        self.stage = StagePage(self.doc, checkpoints)
        self.hardware = HardwarePage(self.doc, str(command.workspace))
        self.review = ReviewPage(self.doc, command)
        self.pages = [self.data, self.tokenizer, self.stage, self.hardware, self.review]
        self.review.launch_requested.connect(self.launch_requested)
        self.review.launch_requested.connect(self._on_launch_requested)
        self._dirty = False              # the document changed since it was last remembered
        self.doc.changed.connect(self._on_doc_changed)
        self.report: dict | None = None
        self.calibration = CalibrationCall(command, self)
        self.calibration.calibrated.connect(self._on_calibration_answered)
        self.calibration.failed.connect(self._on_calibration_answered)
        for page in (self.stage, self.hardware, self.review):
            page.cost_source = self.cost_for
        self._probe_timer = QTimer(self, singleShot=True, interval=400)   # settle typing before probing
        self._probe_timer.timeout.connect(self._request_calibration)
        self.doc.changed.connect(self._probe_timer.start)

        self.steps: list[QLabel] = []
        bar = QHBoxLayout()
        bar.setContentsMargins(24, 12, 24, 0)
        for i, p in enumerate(self.pages):
            label = QLabel(tr(p.title).split("·", 1)[-1].strip())
            label.setObjectName("wizardStep")
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.steps.append(label)
            bar.addWidget(label, 1)
            if i < len(self.pages) - 1:
                arrow = QLabel("›")
                arrow.setObjectName("wizardArrow")
                bar.addWidget(arrow)
        self.stack = QStackedWidget()
        for p in self.pages:
            self.stack.addWidget(p)
            p.validity_changed.connect(self._update_buttons)
        self.back = QPushButton(self.tr("Back"))
        self.back.setShortcut("Alt+Left")
        self.back.clicked.connect(self._on_back_clicked)
        self.next = QPushButton(self.tr("Next"))
        self.next.setObjectName("primaryButton")
        self.next.setShortcut("Alt+Right")
        self.next.clicked.connect(self._on_next_clicked)
        self.why = QLabel()
        self.why.setObjectName("blockReason")
        self.why.setWordWrap(True)
        nav = QHBoxLayout()
        nav.setContentsMargins(24, 4, 24, 12)
        nav.addWidget(self.back)
        nav.addWidget(self.why, 1)
        nav.addWidget(self.next)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.stack, 1)
        lay.addLayout(nav)
        if remember:
            self.restore_values()
        self.go_to(0)

    @property
    def index(self) -> int:
        return self.stack.currentIndex()

    def go_to(self, i: int) -> None:
        i = max(0, min(i, len(self.pages) - 1))
        self.stack.setCurrentIndex(i)
        self.pages[i].entered()
        for j, label in enumerate(self.steps):
            label.setProperty("state", "current" if j == i else ("done" if j < i else "todo"))
            label.style().unpolish(label)
            label.style().polish(label)
        self._update_buttons()
        self.page_changed.emit(i)

    def set_doctor_report(self, report: dict) -> None:
        self.report = report
        self.stage.set_engine_options(report.get("options") or {})
        self.hardware.set_report(report)
        self._request_calibration()

    # ------------------------------------------------------------------ whole documents
    def open_config(self, path: str) -> str | None:
        """Load a saved run YAML into every page; None on success, else a message naming the file and key."""
        doc, why = load_run_file(path)
        if doc is None:
            return why
        self.apply_document(doc)
        self.go_to(len(self.pages) - 1)
        return None

    def apply_document(self, doc: dict) -> None:
        """Show `doc` (a run document with absolute paths) on every page."""
        self.doc.replace(doc)
        train = list(self.doc.get("data.train") or ["builtin"])
        data = self.data
        while data.files.count():            # the Data page's own Remove, so its scan state stays consistent
            data.files.setCurrentRow(0)
            data._on_remove_clicked()
        data.builtin.setChecked("builtin" in train)
        data.add_files([p for p in train if p != "builtin"])
        tok = self.doc.get("tokenizer.path")
        if tok:
            self.tokenizer.existing.setChecked(True)
            self.tokenizer.known.setEditText(str(tok))
        else:
            self.tokenizer.auto.setChecked(True)
        self.tokenizer.fields.set_values(self.doc.resolved())
        self.stage.load_document()
        self.hardware.entered()
        self.review.entered()

    def save_values(self, text: str | None = None) -> None:
        """Remember `text` (a launched YAML, with the Review page's edits) or else the wizard's document."""
        if self.remember:
            settings.set_value("wizard/last_document", text if text is not None else yaml.safe_dump(
                self.doc.doc, sort_keys=False, allow_unicode=True))
            self._dirty = False

    def _on_launch_requested(self, text: str) -> None:
        self.save_values(text)

    def _on_doc_changed(self) -> None:
        self._dirty = True

    def restore_values(self) -> None:
        """Start from the values of the last session, unless the engine no longer accepts them."""
        text = settings.value("wizard/last_document", "", str)
        try:
            doc = yaml.safe_load(text) if text else None
        except yaml.YAMLError:
            return
        if isinstance(doc, dict) and check_document(doc).ok:
            self.apply_document(doc)
            self._dirty = False

    def shutdown(self) -> None:
        if self._dirty:
            self.save_values()
        self.calibration.shutdown()
        for p in self.pages:
            p.shutdown()

    # ------------------------------------------------------------------ cost
    @staticmethod
    def probe_request(cfg: Config) -> tuple[str, str, str]:
        """What to measure for `cfg`: its preset (a custom shape borrows small's speed per FLOP) on its device."""
        return cfg.model.preset or "small", cfg.hardware.device, cfg.hardware.precision

    def cost_for(self, cfg: Config, memory_bytes: float | None) -> Cost:
        req = self.probe_request(cfg)
        return run_cost(cfg, memory_bytes, self.calibration.result(req), self.report,
                        pending=self.calibration.busy_with(req), error=self.calibration.errors.get(req, ""))

    def _request_calibration(self) -> None:
        """Probe the speed of what the wizard holds now; the speed is measured only once the doctor reported."""
        cfg = self.doc.check().config
        if self.report is None or cfg is None:
            return
        self.calibration.request(*self.probe_request(cfg))
        self._refresh_cost()

    def _on_calibration_answered(self, _request, _result) -> None:
        self._refresh_cost()

    def _refresh_cost(self) -> None:
        self.stage.refresh_cost()
        self.hardware.refresh_cost()
        if self.review.config is not None:
            self.review.refresh_cost()

    def _update_buttons(self) -> None:
        i = self.index
        reason = self.pages[i].reason()
        self.back.setEnabled(i > 0)
        last = i == len(self.pages) - 1
        self.next.setVisible(not last)
        self.next.setEnabled(reason is None)
        self.why.setText(f"⚠ {reason}" if reason else "")

    def _on_back_clicked(self) -> None:
        self.go_to(self.index - 1)

    def _on_next_clicked(self) -> None:
        if self.pages[self.index].reason() is None:
            self.go_to(self.index + 1)
