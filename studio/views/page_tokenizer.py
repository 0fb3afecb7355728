"""Wizard page 2, Tokenizer: train one with the run (cached), use an existing tokenizer.json, or train one now.

Training now runs `minigpt tokenizer train` as a background process with a progress bar. A sample sentence is
shown split into coloured tokens, with characters per token in English and Chinese: the pieces come from
`minigpt tokenizer encode --json` (run from a worker), so the studio never re-implements how bytes map to text.
"""

from __future__ import annotations

import html
import json
import subprocess
import time
from pathlib import Path

from PySide6.QtCore import QT_TR_NOOP, QT_TRANSLATE_NOOP, QCoreApplication
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from studio import workers
from studio.config_messages import config_error_text
from studio.engine_client import EngineClient
from studio.i18n import knob_help, tr
from studio.views.fields import FieldGroup
from studio.views.wizard_page import WizardPage

SAMPLES = {QT_TRANSLATE_NOOP("TokenizerPage", "English"):
           "The quick brown fox jumps over the lazy dog. What is 47 + 38?",
           QT_TRANSLATE_NOOP("TokenizerPage", "Chinese"): "今天天气很好，我们去公园散步吧。"}
TOKEN_COLOURS = ("#fde68a", "#bfdbfe", "#bbf7d0", "#fbcfe8", "#ddd6fe", "#fed7aa")


def tokenizer_file(path: str) -> Path | None:
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / "tokenizer.json"
    return p if p.is_file() else None


def split_samples(job: workers.Job, argv: list[str]) -> dict:
    """Worker: the engine's split of the sample sentences (`minigpt tokenizer encode ... --json`)."""
    done = subprocess.run(argv, capture_output=True, text=True, encoding="utf-8", timeout=120)
    if done.returncode != 0:
        lines = [line.removeprefix("error: ") for line in done.stderr.splitlines() if line.strip()]
        raise RuntimeError(next((line for line in lines if not line.startswith("hint:")), "the engine failed"))
    result = json.loads(done.stdout)
    samples = {name: {"pieces": item["pieces"], "tokens": len(item["ids"]), "ratio": item["chars_per_token"]}
               for name, item in zip(SAMPLES, result["texts"], strict=True)}
    return {"vocab_size": result["vocab_size"], "samples": samples}


def tokens_html(result: dict) -> str:
    """Each piece (one token, or the tokens that together make one character) on its own colour."""
    rows = [tr("<p>Vocabulary: <b>{0:,}</b> tokens</p>").format(result["vocab_size"])]
    for name, s in result["samples"].items():
        spans = "".join(
            f"<span style='background:{TOKEN_COLOURS[i % len(TOKEN_COLOURS)]};color:#111'>"
            f"{html.escape(p['text']).replace(' ', '&nbsp;') or '·'}</span>"
            for i, p in enumerate(s["pieces"]))
        sample = QCoreApplication.translate("TokenizerPage", name)
        rows.append(tr("<p><b>{0}</b> — {1:.2f} characters per token ({2} tokens)").format(sample, s["ratio"],
                                                                                            s["tokens"])
                    + f"<br><span style='font-size:15px'>{spans}</span></p>")
    return "".join(rows)


class TokenizerPage(WizardPage):
    title = QT_TR_NOOP("2 · Tokenizer")
    subtitle = QT_TR_NOOP("How text becomes token ids. A byte-level BPE tokenizer is trained on your data and "
                          "cached.")

    def __init__(self, doc, command, parent: QWidget | None = None):
        super().__init__(doc, parent)
        self.command = command
        self.job: EngineClient | None = None
        self._error = ""
        self.auto = QRadioButton(self.tr("Train one automatically when the run starts (cached for later runs)"))
        self.existing = QRadioButton(self.tr("Use an existing tokenizer"))
        self.train_now = QRadioButton(self.tr("Train one now"))
        self.auto.setChecked(True)
        group = QButtonGroup(self)
        for b in (self.auto, self.existing, self.train_now):
            group.addButton(b)
            b.toggled.connect(self._on_mode_changed)

        self.known = QComboBox()
        self.known.setEditable(True)
        self.known.setMinimumWidth(420)
        self.known.setToolTip(knob_help(doc.knobs["tokenizer"]["path"]))
        self.known.currentTextChanged.connect(self._on_path_changed)
        browse = QPushButton(self.tr("Browse…"))
        browse.clicked.connect(self._on_browse_clicked)
        self.fields = FieldGroup(doc.knobs, ["tokenizer.vocab_size", "tokenizer.sample_bytes",
                                             "tokenizer.min_frequency"], parent=self)
        self.fields.changed.connect(self._on_fields_changed)
        self.train_button = QPushButton(self.tr("Train tokenizer"))
        self.train_button.clicked.connect(self._on_train_clicked)
        self.progress = QProgressBar()
        self.progress.hide()
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.preview = QTextBrowser()
        self.preview.setObjectName("tokenPreview")
        self.preview.setHtml("<i>" + self.tr("The split of a sample sentence appears here once a tokenizer is "
                                             "chosen or trained.") + "</i>")

        path_row = QHBoxLayout()
        path_row.addWidget(self.known, 1)
        path_row.addWidget(browse)
        choose = QGroupBox(self.tr("Tokenizer"))
        cv = QVBoxLayout(choose)
        cv.addWidget(self.auto)
        cv.addWidget(self.existing)
        cv.addLayout(path_row)
        cv.addWidget(self.train_now)
        settings_box = QGroupBox(self.tr("Training settings"))
        sv = QVBoxLayout(settings_box)
        sv.addLayout(self.fields.form)
        train_row = QHBoxLayout()
        train_row.addWidget(self.train_button)
        train_row.addWidget(self.progress, 1)
        sv.addLayout(train_row)
        sv.addWidget(self.status)
        self.outer.addWidget(choose)
        self.outer.addWidget(settings_box)
        self.outer.addWidget(self.preview, 1)
        self.fields.set_values(doc.resolved())
        self._refresh_known()
        self._on_mode_changed()

    # ------------------------------------------------------------------ page API
    def reason(self) -> str | None:
        if self.job is not None:
            return self.tr("wait for the tokenizer to finish training")
        _, bad = self.fields.values()
        if bad:
            return next(iter(bad.values()))
        if self.existing.isChecked() and tokenizer_file(self.known.currentText()) is None:
            return self.tr("pick a tokenizer.json (or a folder holding one)")
        if self.train_now.isChecked():
            return self.tr("train the tokenizer first, or choose automatic training")
        check = self.doc.check()
        if not check.ok and check.key.startswith("tokenizer."):
            return config_error_text(check.key, check.message)
        return None

    def entered(self) -> None:
        self._refresh_known()
        self.fields.set_values(self.doc.resolved())

    def shutdown(self) -> None:
        if self.job is not None:
            self.job.abandon(0)   # a half-trained tokenizer is not kept: end it now, reaped on window close
            self.job = None

    # ------------------------------------------------------------------ slots
    def _refresh_known(self) -> None:
        current = self.known.currentText()
        self.known.blockSignals(True)
        self.known.clear()
        for f in sorted(Path(self.command.workspace, "tokenizers").glob("*/tokenizer.json")):
            self.known.addItem(str(f))
        self.known.setEditText(current)
        self.known.blockSignals(False)

    def _on_mode_changed(self, *_args) -> None:
        self.known.setEnabled(self.existing.isChecked())
        self.train_button.setEnabled(self.train_now.isChecked() and self.job is None)
        path = tokenizer_file(self.known.currentText()) if self.existing.isChecked() else None
        self.doc.set("tokenizer.path", str(path) if path else None)
        if path:
            self._split(str(path))
        self.validity_changed.emit()

    def _on_path_changed(self, _text: str) -> None:
        if self.existing.isChecked():
            self._on_mode_changed()

    def _on_browse_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.tr("Choose a tokenizer"), str(self.command.workspace),
                                              self.tr("Tokenizer (tokenizer.json);;JSON (*.json)"))
        if path:
            self.existing.setChecked(True)
            self.known.setEditText(path)

    def _on_fields_changed(self) -> None:
        values, bad = self.fields.values()
        self.fields.show_errors(bad)
        if not bad:
            self.doc.update(values)
        self.validity_changed.emit()

    def _on_train_clicked(self) -> None:
        values, bad = self.fields.values()
        if bad:
            return
        tok = values["tokenizer"]
        out = Path(self.command.workspace, "tokenizers", time.strftime("studio-%Y%m%d-%H%M%S"))
        data = [p for p in self.doc.get("data.train", ["builtin"])]
        argv = self.command.tokenizer(data, tok["vocab_size"], out, tok["sample_bytes"])
        argv += ["--encoding", str(self.doc.get("data.encoding", "utf-8") or "utf-8")]  # as the Data page read them
        log = Path(self.command.studio_dir, "logs", out.name + ".stderr")
        self.job = EngineClient(argv, stderr_path=log, parent=self)
        self.job.event_received.connect(self._on_job_event)
        self.job.finished.connect(self._on_job_finished)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText(self.tr("Training the tokenizer…"))
        self.train_button.setEnabled(False)
        self.job.start()
        self.validity_changed.emit()

    def _on_job_event(self, ev) -> None:
        if ev.event == "progress":
            total, done = int(ev.get("total") or 0), int(ev.get("done") or 0)
            if total:
                self.progress.setRange(0, 1000)
                self.progress.setValue(int(1000 * done / total))
        elif ev.event == "done" and ev.get("status") == "completed":
            summary = ev.get("summary") or {}
            self._result = summary

    def _on_job_finished(self, outcome) -> None:
        self.job.deleteLater()
        self.job = None
        self.progress.hide()
        if outcome.ok and getattr(self, "_result", None):
            path = self._result.get("path", "")
            ratios = self._result.get("chars_per_token") or {}
            ratio_text = ", ".join(self.tr("{0}: {1} chars/token").format(k, v) for k, v in ratios.items())
            self.status.setText(self.tr("Trained: {0} ({1} tokens; {2})").format(
                path, self._result.get("vocab_size", "?"), ratio_text))
            self._refresh_known()
            self.existing.setChecked(True)
            self.known.setEditText(path)
        else:
            failed = self.tr("Tokenizer training failed: {0}").format(html.escape(outcome.message))
            self.status.setText(f"<span style='color:#d9534f'>{failed}</span><br>{html.escape(outcome.hint)}")
        self._on_mode_changed()

    def _split(self, path: str) -> None:
        w = workers.Worker(split_samples, self.command.argv("tokenizer", "encode", path, *SAMPLES.values(), "--json"))
        # Bound methods, not lambdas: Qt drops them with the page, so a split finishing after it is gone is ignored.
        w.signals.succeeded.connect(self._on_split_done)
        w.signals.failed.connect(self._on_split_failed)
        w.start()

    def _on_split_done(self, result) -> None:
        self.preview.setHtml(tokens_html(result))

    def _on_split_failed(self, message: str) -> None:
        why = self.tr("could not read the tokenizer: {0}").format(html.escape(message.splitlines()[0]))
        self.preview.setHtml(f"<i>{why}</i>")
