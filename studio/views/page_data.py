"""Wizard page 1, Data: the built-in dataset or the user's files (dialog or drag-and-drop).

Each file is scanned in a worker (format detection, validation with bad lines, counts, a preview) with a
progress bar and Cancel; the UI thread never reads a data file. Next is blocked until every file is usable.
Files are read with the text encoding chosen here (data.encoding); changing it scans them again.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import QT_TR_NOOP, QT_TRANSLATE_NOOP, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from engine.data import formats
from studio import settings, workers
from studio.i18n import knob_help
from studio.views.preference_files import PreferenceFiles
from studio.views.record_render import render_records
from studio.views.wizard_page import WizardPage

PREVIEW_RECORDS = 6
BUILTIN_TEXT = QT_TRANSLATE_NOOP("DataPage", "A bilingual (English and Chinese) corpus generated on first use: "
                                "pretraining text, chat "
                "conversations, preference pairs and checkable tasks (arithmetic, counting, copying, unit facts), "
                "each with a held-out split. No download needed.")   # shown through tr


ENCODINGS = ("utf-8", "auto", "gb18030", "big5", "shift_jis", "cp1252")


def scan_file(job: workers.Job, path: str, encoding: str = "utf-8") -> dict:
    """Worker: detect, validate (with progress and cancel) and preview one data file."""
    kind = formats.detect_format(path, encoding=encoding)
    report = formats.validate_file(path, kind=kind, progress=job.progress, cancelled=job.is_cancelled,
                                   encoding=encoding)
    preview = formats.preview_records(path, PREVIEW_RECORDS, kind=kind, encoding=encoding)
    return {"kind": kind, "report": report, "preview": preview}


def builtin_preview(job: workers.Job, workspace: str) -> dict:
    """Worker: the built-in data's file stats and first records. `minigpt data builtin` generates it into the
    workspace if needed (in its own process, as the engine would on the first run) and prints its manifest."""
    import json
    import subprocess

    from engine.config import UserError
    from studio.engine_cmd import EngineCommand
    argv = EngineCommand(workspace=Path(workspace)).argv("data", "builtin")
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, encoding="utf-8", timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise UserError(f"could not prepare the built-in dataset: {e}", "check that the engine is installed; "
                        f"try `{' '.join(argv[-4:])}` in a terminal") from None
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-3:])
        raise UserError(f"`minigpt data builtin` failed (exit code {proc.returncode}): {tail}",
                        "the workspace must be writable; the log of the command is above")
    manifest = json.loads(proc.stdout)
    folder = Path(manifest["folder"])
    out: dict = {"stats": manifest.get("files", {})}
    for kind, name in (("pretrain", "pretrain_train.jsonl"), ("sft", "sft_train.jsonl"),
                       ("preference", "preference_train.jsonl"), ("rl_prompt", "rl_prompt_train.jsonl")):
        if (folder / name).is_file():
            out[kind] = formats.preview_records(folder / name, 3, kind=kind)
    return out


class DataPage(WizardPage):
    title = QT_TR_NOOP("1 · Data")
    subtitle = QT_TR_NOOP("What the model learns from. The built-in dataset needs no files; or add your own "
                          ".jsonl / .txt.")

    def __init__(self, doc, workspace: str, parent: QWidget | None = None):
        super().__init__(doc, parent)
        self.workspace = workspace
        self.results: dict[str, dict] = {}     # path -> {"kind", "report", "preview"} or {"error": str}
        self._queue: list[str] = []
        self._worker: workers.Worker | None = None
        self._scanning: str | None = None
        self._scan_encoding = ""                      # the encoding the running scan reads with
        self._builtin_cache: dict[str, dict] = {}    # workspace -> the built-in data's stats and previews
        self._builtin_pending: set[str] = set()
        self.setAcceptDrops(True)

        self.builtin = QCheckBox(self.tr("Use the built-in dataset"))
        self.builtin.setChecked(True)
        self.builtin.setToolTip(self.tr(BUILTIN_TEXT))
        self.builtin.toggled.connect(self._on_sources_changed)
        self.files = QListWidget()
        self.files.setObjectName("dataFiles")
        self.files.setWordWrap(True)      # the status line ("· 2 bad") stays readable in a narrow list
        self.files.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.files.currentRowChanged.connect(self._on_selected)
        add = QPushButton(self.tr("Add files…"))
        add.clicked.connect(self._on_add_clicked)
        self.remove = QPushButton(self.tr("Remove"))
        self.remove.clicked.connect(self._on_remove_clicked)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel = QPushButton(self.tr("Cancel scan"))
        self.cancel.clicked.connect(self._on_cancel_clicked)
        self.cancel.hide()
        self.encoding = QComboBox()
        self.encoding.setObjectName("dataEncoding")
        self.encoding.setEditable(True)
        self.encoding.addItems(ENCODINGS)
        self.encoding.setCurrentText(str(doc.get("data.encoding", "utf-8") or "utf-8"))
        self.encoding.setToolTip(knob_help(doc.knobs["data"]["encoding"]))
        self.encoding.currentTextChanged.connect(self._on_encoding_changed)
        self.summary = QLabel()
        self.summary.setObjectName("dataSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.preview = QTextBrowser()
        self.preview.setObjectName("dataPreview")

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(self.builtin)
        hint = QLabel(self.tr("Your files (drop them here):"))
        lv.addWidget(hint)
        lv.addWidget(self.files, 1)
        row = QHBoxLayout()
        row.addWidget(add)
        row.addWidget(self.remove)
        row.addStretch(1)
        lv.addLayout(row)
        enc_row = QHBoxLayout()
        enc_row.addWidget(QLabel(self.tr("Text encoding:")))
        enc_row.addWidget(self.encoding, 1)
        lv.addLayout(enc_row)
        lv.addWidget(self.progress)
        lv.addWidget(self.cancel, 0, Qt.AlignmentFlag.AlignLeft)
        self.preferences = PreferenceFiles(workspace)
        self.preferences.preview_ready.connect(self._on_preference_preview)
        self.preferences.use_requested.connect(lambda path: self.add_files([path]))
        lv.addWidget(self.preferences)
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.addWidget(self.summary)
        rv.addWidget(self.preview, 1)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([320, 560])
        self.outer.addWidget(split, 1)
        self._show_builtin()

    # ------------------------------------------------------------------ API
    def add_files(self, paths: list[str]) -> None:
        for p in paths:
            p = str(Path(p).expanduser().resolve())
            if p in self.results or p in self._queue or p == self._scanning:
                continue
            item = QListWidgetItem(f"{Path(p).name}\n    queued")
            item.setData(Qt.ItemDataRole.UserRole, p)
            item.setToolTip(p)
            self.files.addItem(item)
            self._queue.append(p)
        if paths and self.builtin.isChecked():  # the engine trains on the built-in set or on files, never both
            self.builtin.blockSignals(True)
            self.builtin.setChecked(False)
            self.builtin.blockSignals(False)
        if paths:
            settings.set_value("wizard/last_data_dir", str(Path(paths[-1]).parent))
        self._scan_next()
        self._on_sources_changed()

    def sources(self) -> list[str]:
        files = [self.files.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.files.count())]
        return (["builtin"] if self.builtin.isChecked() else []) + files

    def reason(self) -> str | None:
        srcs = self.sources()
        if not srcs:
            return self.tr("choose the built-in dataset or add at least one file")
        if srcs[0] == "builtin" and len(srcs) > 1:
            return self.tr("the built-in dataset cannot be mixed with your files; uncheck it or remove the files")
        if self._scanning or self._queue:
            return self.tr("wait for the files to be checked (or cancel and remove them)")
        kinds = set()
        for p in srcs[1 if srcs[0] == "builtin" else 0:]:
            r = self.results.get(p) or {}
            name = Path(p).name
            if "error" in r:
                return f"{name}: {r['error'].splitlines()[0]}"
            if r.get("cancelled"):
                return self.tr("{0}: the check was cancelled; remove the file or add it again").format(name)
            rep: formats.FileReport = r["report"]
            if rep.records == 0:
                return self.tr("{0}: no usable records").format(name)
            limit = float(self.doc.get("data.max_bad_fraction", 0.05) or 0.05)
            if rep.bad_share > limit:
                return self.tr("{0}: {1:.1%} of the lines are bad (more than {2:.0%})").format(name, rep.bad_share,
                                                                                              limit)
            kinds.add(r["kind"])
        if len(kinds) > 1:
            return self.tr("the files hold different kinds of data ({0}); train on one kind at a time").format(
                ", ".join(sorted(kinds)))
        return None

    def shutdown(self) -> None:
        self._queue.clear()
        if self._worker is not None:
            self._worker.cancel()

    # ------------------------------------------------------------------ scanning
    def _scan_next(self) -> None:
        if self._worker is not None or not self._queue:
            return
        path = self._queue.pop(0)
        self._scanning = path
        self._set_item_text(path, self.tr("checking…"))
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat(self.tr("Checking {0}… %p%").format(Path(path).name))
        self.progress.show()
        self.cancel.show()
        enc = self.encoding.currentText().strip()
        self._scan_encoding = enc
        w = workers.Worker(scan_file, path, enc)
        # Bound methods, not lambdas: Qt drops a queued signal whose receiving page is gone (a scan cancelled by
        # shutdown() reports after the wizard is deleted); a lambda would still run against deleted widgets.
        w.signals.progressed.connect(self._on_scan_progress)
        w.signals.succeeded.connect(self._on_scan_succeeded)
        w.signals.failed.connect(self._on_scan_failed)
        w.signals.cancelled.connect(self._on_scan_cancelled)
        w.signals.finished.connect(self._on_scan_finished)
        self._worker = w.start()
        self.validity_changed.emit()

    def _on_scan_progress(self, done: int, total: int) -> None:
        self.progress.setValue(int(1000 * done / total) if total else 0)

    def _on_scan_succeeded(self, result: dict) -> None:
        self._on_scanned(self._scanning, result, self._scan_encoding)

    def _on_scan_failed(self, message: str) -> None:
        self._on_scanned(self._scanning, {"error": message}, self._scan_encoding)

    def _on_scan_cancelled(self) -> None:
        self._on_scanned(self._scanning, {"cancelled": True}, self._scan_encoding)

    def _on_scanned(self, path: str, result: dict, encoding: str = "") -> None:
        if encoding != self.encoding.currentText().strip():  # read with an encoding no longer chosen: again
            if path in self.sources():
                self._queue.append(path)
            return
        self.results[path] = result
        if "error" in result:
            label = self.tr("error")
        elif result.get("cancelled"):
            label = self.tr("cancelled")
        else:
            rep = result["report"]
            label = self.tr("{0} · {1:,} records").format(result["kind"], rep.records)
            label += self.tr(" · {0:,} bad").format(rep.bad_count) if rep.bad_count else ""
        self._set_item_text(path, label)
        if self._current_path() in (path, None):
            self._show(path)

    def _on_scan_finished(self) -> None:
        self._worker = None
        self._scanning = None
        self.progress.hide()
        self.cancel.hide()
        self._scan_next()
        self._on_sources_changed()

    def _on_cancel_clicked(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

    # ------------------------------------------------------------------ slots
    def _on_add_clicked(self) -> None:
        start = settings.value("wizard/last_data_dir", str(Path.home()), str)
        paths, _ = QFileDialog.getOpenFileNames(self, self.tr("Add data files"), start,
                                                self.tr("Data (*.jsonl *.txt);;All files (*)"))
        self.add_files(paths)

    def _on_encoding_changed(self, text: str) -> None:
        self.doc.set("data.encoding", text.strip() or "utf-8")
        for path in list(self.results):
            del self.results[path]
            self._queue.append(path)
            self._set_item_text(path, "queued")
        if self._worker is not None:
            self._worker.cancel()  # its result comes back under the old encoding and is queued again
        self._scan_next()
        self.validity_changed.emit()

    def _on_remove_clicked(self) -> None:
        row = self.files.currentRow()
        if row < 0:
            return
        path = self.files.item(row).data(Qt.ItemDataRole.UserRole)
        self.files.takeItem(row)
        self.results.pop(path, None)
        if path in self._queue:
            self._queue.remove(path)
        if path == self._scanning and self._worker is not None:
            self._worker.cancel()
        self._on_sources_changed()

    def _on_sources_changed(self) -> None:
        self.doc.set("data.train", self.sources() or ["builtin"])
        kinds = {p: r["kind"] for p, r in self.results.items() if "kind" in r}
        self.doc.data_kinds = kinds
        if self.files.count() == 0:
            self._show_builtin()
        self.validity_changed.emit()

    def _on_selected(self, row: int) -> None:
        if row >= 0:
            self._show(self.files.item(row).data(Qt.ItemDataRole.UserRole))

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.add_files([u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()])

    # ------------------------------------------------------------------ display
    def _current_path(self) -> str | None:
        item = self.files.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def _set_item_text(self, path: str, status: str) -> None:
        for i in range(self.files.count()):
            item = self.files.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == path:
                item.setText(f"{Path(path).name}\n    {status}")

    def _show(self, path: str) -> None:
        r = self.results.get(path)
        if r is None:
            self.summary.setText(self.tr("<b>{0}</b>: being checked…").format(Path(path).name))
            self.preview.clear()
            return
        if "error" in r:
            self.summary.setText(f"<b>{Path(path).name}</b>: <span style='color:#d9534f'>{r['error']}</span>")
            self.preview.clear()
            return
        if r.get("cancelled"):
            self.summary.setText(self.tr("<b>{0}</b>: check cancelled.").format(Path(path).name))
            self.preview.clear()
            return
        rep: formats.FileReport = r["report"]
        lines = [self.tr("<b>{0}</b> — detected format: <b>{1}</b>").format(Path(path).name, r["kind"]),
                 self.tr("{0:,} records · {1:,} characters · ~{2:,} tokens · {3:,} bad lines of {4:,}").format(
                     rep.records, rep.chars, rep.est_tokens, rep.bad_count, rep.total_lines)]
        if rep.bad_lines:
            shown = "<br>".join(f"<code>{b}</code>" for b in rep.bad_lines[:8])
            more = rep.bad_count - min(8, len(rep.bad_lines))
            lines.append("<span style='color:#d9534f'>" + self.tr("Bad lines:") + f"</span><br>{shown}"
                         + (self.tr("<br>… and {0:,} more").format(more) if more > 0 else ""))
        self.summary.setText("<br>".join(lines))
        self.preview.setHtml(render_records(r["preview"], r["kind"]))

    def _show_builtin(self) -> None:
        self.summary.setText(self.tr("<b>Built-in dataset</b>") + "<br>" + self.tr(BUILTIN_TEXT))
        ws = self.workspace
        if ws in self._builtin_cache:  # one `minigpt data builtin` per workspace, not one per toggle
            self._on_builtin_preview(dict(self._builtin_cache[ws]))
            return
        self.preview.setHtml("<i>" + self.tr("Preparing the built-in dataset…") + "</i>")
        if ws in self._builtin_pending:
            return
        self._builtin_pending.add(ws)
        w = workers.Worker(builtin_preview, ws)
        w.signals.succeeded.connect(lambda res: self._builtin_cache.setdefault(ws, dict(res)))
        w.signals.succeeded.connect(self._on_builtin_preview)
        w.signals.failed.connect(self.preview.setPlainText)
        w.signals.finished.connect(lambda: self._builtin_pending.discard(ws))
        w.start()

    def _on_preference_preview(self, text: str) -> None:
        self.summary.setText(self.tr("<b>Preference data</b> (from A/B chat)"))
        self.preview.setHtml(text)

    def _on_builtin_preview(self, previews: dict) -> None:
        if self.files.count() or not previews:
            return
        stats = previews.pop("stats", {})
        rows = "".join(f"<tr><td>{html.escape(stem)}</td><td align='right'>{info.get('records', 0):,}</td>"
                       f"<td align='right'>{info.get('bytes', 0) / 1e6:.2f} MB</td></tr>"
                       for stem, info in stats.items())
        head = self.tr("<tr><th align='left'>file</th><th>records</th><th>size</th></tr>")
        table = f"<table cellspacing='6'>{head}{rows}</table>"
        self.summary.setText(self.tr("<b>Built-in dataset</b>") + "<br>" + self.tr(BUILTIN_TEXT)
                             + (table if rows else ""))
        self.preview.setHtml("".join(f"<h4>{kind}</h4>{render_records(recs, kind)}" for kind, recs in previews.items()))
