"""MonitorView: one run's live view: status, progress (step, epoch, elapsed, ETA), plots, samples, log, and the
Pause / Resume / Stop (save and exit) / Save now buttons. On failure it shows the message, hint, traceback and
the engine's last stderr lines. A saved checkpoint is announced in the header and the status bar. Long names
are elided (full text in the tooltip) so the header fits a 1024-px window. A view over a RunSession; it never
touches the process itself.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.i18n import status_text
from studio.models.runs_table import fmt_duration
from studio.run_session import RunSession
from studio.views.elided_label import ElidedLabel
from studio.views.plots import PlotGrid
from studio.views.samples_view import SamplesView

STATUS_COLOURS = {"running": "#16a34a", "paused": "#ca8a04", "stopping": "#ca8a04", "completed": "#2563eb",
                  "stopped": "#64748b", "failed": "#dc2626", "diverged": "#dc2626", "interrupted": "#c2410c",
                  "starting": "#64748b"}
LABEL_MS = 250
NOTICE_MS = 8000        # how long "checkpoint saved" stays in the header and the status bar


class ErrorPanel(QFrame):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("errorPanel")
        self.message = QLabel()
        self.message.setObjectName("errorMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hint = QLabel()
        self.hint.setObjectName("errorHint")
        self.hint.setWordWrap(True)
        self.details = QPlainTextEdit()
        self.details.setObjectName("errorDetails")
        self.details.setReadOnly(True)
        self.details.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.details.setMaximumHeight(160)
        lay = QVBoxLayout(self)
        lay.addWidget(self.message)
        lay.addWidget(self.hint)
        lay.addWidget(self.details)
        self.hide()

    def show_error(self, message: str, hint: str, traceback: str, stderr_tail: str) -> None:
        self.message.setText(self.tr("<b>Run failed:</b> {0}").format(html.escape(message)))
        self.hint.setText(self.tr("Hint: {0}").format(html.escape(hint)) if hint else "")
        self.hint.setVisible(bool(hint))
        parts = []
        if traceback:
            parts.append(traceback.rstrip())
        if stderr_tail:
            parts.append(self.tr("— last lines of the engine's stderr —") + "\n" + stderr_tail.rstrip())
        self.details.setPlainText("\n\n".join(parts))
        self.details.setVisible(bool(parts))
        self.show()


class MonitorView(QWidget):
    chat_requested = Signal(str)    # a checkpoint path

    def __init__(self, session: RunSession, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        state = self.state = session.state
        self.title = ElidedLabel(state.name or "run", mode=Qt.TextElideMode.ElideMiddle)
        self.title.setObjectName("monitorTitle")
        self.status = QLabel()
        self.status.setObjectName("statusBadge")
        self.device = ElidedLabel()
        self.device.setObjectName("hintLabel")
        self.notice = QLabel()      # "checkpoint saved": seen whichever side tab is open
        self.notice.setObjectName("saveNotice")
        self.notice.setStyleSheet("color:#16a34a;font-weight:bold;")
        self._notice_timer = QTimer(self, singleShot=True, interval=NOTICE_MS)
        self._notice_timer.timeout.connect(self.notice.clear)
        self.pause = QPushButton(self.tr("Pause"))
        self.resume = QPushButton(self.tr("Resume"))
        self.stop = QPushButton(self.tr("Stop (save and exit)"))
        self.save = QPushButton(self.tr("Save now"))
        self.chat = QPushButton(self.tr("Chat with latest"))
        self.pause.clicked.connect(session.pause)
        self.resume.clicked.connect(session.resume)
        self.stop.clicked.connect(self._on_stop_clicked)
        self.save.clicked.connect(session.save)
        self.save.clicked.connect(self._on_save_clicked)
        self.chat.clicked.connect(self._on_chat_clicked)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.status)
        for b in (self.pause, self.resume, self.save, self.stop, self.chat):
            head.addWidget(b)
        sub = QHBoxLayout()
        sub.addWidget(self.device, 1)
        sub.addWidget(self.notice)
        self.progress = QProgressBar()
        self.progress.setObjectName("runProgress")
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress_text = QLabel()
        self.progress_text.setObjectName("progressText")
        self.progress_text.setWordWrap(True)
        self.errors = ErrorPanel()
        self.plots = PlotGrid(state)
        self.samples = SamplesView()
        self.log = QPlainTextEdit()
        self.log.setObjectName("log")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        self.log.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        side = QTabWidget()
        side.addTab(self.samples, self.tr("Samples"))
        side.addTab(self.log, self.tr("Log"))
        self.side = side
        scroll = QScrollArea()  # many stage and eval plots must not make the window taller than the screen
        scroll.setWidget(self.plots)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(scroll)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([800, 300])
        lay = QVBoxLayout(self)
        lay.addLayout(head)
        lay.addLayout(sub)
        lay.addWidget(self.progress)
        lay.addWidget(self.progress_text)
        lay.addWidget(self.errors)
        lay.addWidget(split, 1)

        self._pending_log: list[str] = []
        state.status_changed.connect(self._on_status_changed)
        state.sample_added.connect(self._on_sample_added)
        state.log_added.connect(self._on_log_added)
        state.error_received.connect(self._on_error)
        state.progress_changed.connect(self._on_phase_progress)
        state.batch_changed.connect(self._on_batch_changed)
        state.reloaded.connect(self._on_reloaded)
        state.checkpoint_added.connect(lambda *_: self._update_buttons())
        session.following_changed.connect(lambda *_: self._update_buttons())
        state.checkpoint_added.connect(self._on_checkpoint_added)
        self._phase = ""
        self._timer = QTimer(self, interval=LABEL_MS)
        self._timer.timeout.connect(self._on_tick)
        self._timer.start()
        self._on_reloaded()

    # ------------------------------------------------------------------ slots
    def _on_reloaded(self) -> None:
        self.samples.set_samples(self.state.samples)
        self.samples.refresh()
        self.log.setPlainText("\n".join(self._fmt_log(lv, t) for lv, t in self.state.logs))
        if self.state.error is not None:
            self._on_error(self.state.error)
        self._on_status_changed(self.state.status)

    def _on_status_changed(self, status: str) -> None:
        colour = STATUS_COLOURS.get(status, "#64748b")
        self.status.setText(status_text(status))
        self.status.setStyleSheet(f"background:{colour};color:white;border-radius:8px;padding:2px 10px;")
        if self.state.finished and self.state.error is not None:
            self._on_error(self.state.error)
        self._update_buttons()
        self._on_tick()

    def _update_buttons(self) -> None:
        live = self.session.live
        status = self.state.status
        self.pause.setEnabled(live and status == "running")
        self.resume.setEnabled(live and status == "paused")
        self.stop.setEnabled(live and status in ("running", "paused", "starting"))
        self.save.setEnabled(live and status in ("running", "paused"))
        self.chat.setEnabled(bool(self.state.checkpoints))
        for b in (self.pause, self.resume, self.stop, self.save):
            b.setVisible(self.session.controllable)

    def _on_stop_clicked(self) -> None:
        self.session.stop()
        self._update_buttons()

    def _on_chat_clicked(self) -> None:
        if self.state.checkpoints:
            self.chat_requested.emit(self.state.checkpoints[-1][1])

    def _on_sample_added(self, step: int, prompt: str, completion: str) -> None:
        self.samples.add(step, prompt, completion)

    def _on_save_clicked(self) -> None:
        self._notify(self.tr("Saving a checkpoint…"))

    def _on_checkpoint_added(self, step: int, path: str, reason: str) -> None:
        self._notify(self.tr("✓ Checkpoint saved at step {0:,}").format(step) + (f" ({reason})" if reason else ""),
                     path)

    def _notify(self, text: str, tip: str = "", colour: str = "#16a34a") -> None:
        self.notice.setStyleSheet(f"color:{colour};font-weight:bold;")
        self.notice.setText(text)
        self.notice.setToolTip(tip)
        self._notice_timer.start()
        win = self.window()
        if isinstance(win, QMainWindow):
            win.statusBar().showMessage(f"{self.state.name}: {text}", NOTICE_MS)

    @staticmethod
    def _fmt_log(level: str, text: str) -> str:
        return text if level == "stderr" else f"[{level}] {text}"

    def _on_log_added(self, level: str, text: str) -> None:
        self._pending_log.append(self._fmt_log(level, text))

    def _on_error(self, info) -> None:
        self.errors.show_error(info.message, info.hint, info.traceback, self.state.stderr_tail)

    def _on_phase_progress(self, phase: str, done: int, total: int) -> None:
        if self.state.step:
            return
        self._phase = f"{phase}: {100 * done / total:.0f}%" if total else f"{phase}: {done:,}"
        if total:
            self.progress.setValue(int(1000 * done / total))

    def _on_batch_changed(self, batch) -> None:
        """Auto batch size's tries show where the progress text is; its choice and an OOM back-off as a notice
        (the engine's full sentence is in the log and the notice's tooltip)."""
        if batch.phase == "probe":
            self._phase = batch.message
        elif batch.phase == "backoff":
            self._notify(self.tr("⚠ Out of memory at step {0}: micro-batch now {1} × {2}").format(
                batch.step, batch.micro_batch, batch.grad_accum), batch.message, colour="#c2410c")
        else:
            self._phase = batch.message
            self._notify(self.tr("Auto batch size: {0} × {1}").format(batch.micro_batch, batch.grad_accum),
                         batch.message)

    def _on_tick(self) -> None:
        if self._pending_log:
            self.log.appendPlainText("\n".join(self._pending_log))
            self._pending_log.clear()
        s = self.state
        self.samples.refresh()
        self.device.setText(s.device)
        if s.name:
            self.title.setText(s.name)
        elapsed = fmt_duration(s.elapsed_s) or "0s"
        if s.total_steps and s.step:
            self.progress.setValue(int(1000 * s.step / s.total_steps))
            tok_s = s.latest("tokens_per_s")
            eta = "" if s.finished or s.eta_s is None else self.tr(" · ETA {0}").format(fmt_duration(s.eta_s))
            loss = s.latest("loss")
            text = (self.tr("step {0:,} / {1:,} · epoch {2:.3f} · elapsed {3}").format(s.step, s.total_steps, s.epoch,
                                                                                        elapsed) + eta
                    + (self.tr(" · loss {0:.4f}").format(loss) if loss is not None else "")
                    + (f" · {tok_s:,.0f} tok/s" if tok_s else ""))
        elif s.finished:
            text = self.tr("elapsed {0}").format(elapsed)
        else:
            text = self.tr("{0} · elapsed {1}").format(self._phase or self.tr("starting"), elapsed)
        if s.best_val is not None:
            text += self.tr(" · best val {0:.4f}").format(s.best_val)
        self.progress_text.setText(text)

    def close_view(self) -> None:
        self._timer.stop()
        self.plots.timer.stop()
        self.session.close()
