"""ABSide: one side of the A/B comparison — its checkpoint picker, its own chat server (a ChatClient), its
sampling settings and the replies it gave. The comparison (shared prompt, the user's choice) lives in chat_ab.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from studio.chat_client import ChatClient
from studio.models.chat_transcript import ChatTranscript
from studio.views.chat_bubbles import TranscriptPane
from studio.views.chat_sampling import SamplingBox


class ABSide(QWidget):
    state_changed = Signal()          # loaded, failed, busy or idle: the comparison re-checks its buttons
    reply_finished = Signal()

    def __init__(self, name: str, command, parent: QWidget | None = None):
        super().__init__(parent)
        self.name = name
        self.client = ChatClient(command, self)
        self.transcript = ChatTranscript(self)
        self.reply_index: int | None = None

        tag = QLabel(name)
        tag.setObjectName("abTag")
        self.picker = QComboBox()
        self.picker.setObjectName(f"abPicker{name}")
        self.picker.setMinimumContentsLength(18)
        self.picker.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.picker.currentIndexChanged.connect(self._on_picked)
        self.load_button = QPushButton(self.tr("Load"))
        self.load_button.clicked.connect(self._on_load_clicked)
        self.state = QLabel(self.tr("No checkpoint loaded."))
        self.state.setObjectName("serverState")
        self.state.setWordWrap(True)
        self.pane = TranscriptPane(self.transcript, assistant_name=self.tr("Model {0}").format(name))
        self.sampling = SamplingBox(f"chat_ab/{name.lower()}", self.tr("Sampling {0}").format(name), columns=2,
                                    labels_above=True)
        top = QHBoxLayout()
        top.addWidget(tag)
        top.addWidget(self.picker, 1)
        top.addWidget(self.load_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.state)
        lay.addWidget(self.pane, 1)
        lay.addWidget(self.sampling)

        self.client.loading.connect(self._on_loading)
        self.client.ready.connect(self._on_ready)
        self.client.failed.connect(self._on_failed)
        self.client.token_received.connect(self._on_token)
        self.client.reply_finished.connect(self._on_reply_finished)
        self.client.request_failed.connect(self._on_request_failed)
        self._on_picked()

    # ------------------------------------------------------------------ API
    @property
    def ready(self) -> bool:
        return self.client.is_ready

    @property
    def busy(self) -> bool:
        return self.reply_index is not None

    def set_checkpoints(self, items: list[tuple[str, str]]) -> None:
        current = self.picker.currentData()
        self.picker.blockSignals(True)
        self.picker.clear()
        for label, path in items:
            self.picker.addItem(label, path)
        i = self.picker.findData(current)
        self.picker.setCurrentIndex(i if i >= 0 else min(0, self.picker.count() - 1))
        self.picker.blockSignals(False)
        self._on_picked()

    def choose(self, path: str) -> None:
        i = self.picker.findData(path)
        if i >= 0:
            self.picker.setCurrentIndex(i)

    def ask(self, user_text: str, messages: list[dict]) -> bool:
        """Show the user's turn and ask this side's server for a reply to `messages`."""
        self.transcript.add("user", user_text)
        self.reply_index = self.transcript.add("assistant", "")
        if self.client.generate(messages, self.sampling.params()) is None:
            self.transcript.finish(self.reply_index, "failed", {})
            self.reply_index = None
            return False
        self.state_changed.emit()
        return True

    def last_reply(self) -> dict:
        return next(m for m in reversed(self.transcript.messages) if m["role"] == "assistant")

    def close_server(self) -> None:
        self.client.close()

    # ------------------------------------------------------------------ slots
    def _on_picked(self, *_args) -> None:
        self.load_button.setEnabled(self.picker.currentData() is not None)

    def _on_load_clicked(self) -> None:
        path = self.picker.currentData()
        if path:
            self.client.load(path)

    def _on_loading(self, path: str) -> None:
        self.state.setText(self.tr("Loading {0}…").format(html.escape(path)))
        self.state_changed.emit()

    def _on_ready(self, info: dict) -> None:
        bits = [self.tr("step {0}").format(info.get("step", "?")), str(info.get("stage") or ""),
                str(info.get("device") or "")]
        self.state.setText(" · ".join([self.tr("<b>Ready</b>"), *(html.escape(b) for b in bits if b)]))
        self.state.setToolTip(str(info.get("checkpoint", "")))
        self.state_changed.emit()

    def _on_failed(self, message: str, tail: str) -> None:
        self.state.setText(f"<span style='color:#d9534f'><b>{html.escape(message)}</b></span>")
        self.state.setToolTip(tail)
        self.state_changed.emit()

    def _on_token(self, _req, text: str) -> None:
        if self.reply_index is not None:
            self.transcript.append_text(self.reply_index, text)

    def _on_reply_finished(self, _req, status: str, stats: dict) -> None:
        if self.reply_index is None:
            return
        self.transcript.finish(self.reply_index, status, stats)
        self.reply_index = None
        self.reply_finished.emit()
        self.state_changed.emit()

    def _on_request_failed(self, _req, message: str, hint: str) -> None:
        self.state.setText(f"<span style='color:#d9534f'>{html.escape(message)}</span> {html.escape(hint)}")
