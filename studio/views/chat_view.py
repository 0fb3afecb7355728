"""The Chat page: pick a checkpoint, talk to it; or compare two side by side (the "Compare A/B" tab).

Replies stream token by token into assistant bubbles, with a system prompt, sampling controls, Stop, New chat,
per-reply stats, and chats saved to / reopened from `<workspace>/chats/`. A view over a ChatTranscript and a
ChatClient (which owns the `minigpt serve` process); bubbles, sampling and A/B live in the chat_* modules.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio import settings
from studio.chat_client import ChatClient
from studio.models.chat_transcript import ChatTranscript
from studio.views.chat_bubbles import TranscriptPane
from studio.views.chat_input import ChatInput
from studio.views.chat_sampling import SamplingBox
from studio.views.chat_saved import SavedChats
from studio.views.inside_panel import InsidePanel


class ChatView(QWidget):
    def __init__(self, client: ChatClient, checkpoints=lambda: [], command=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.client = client
        self.transcript = ChatTranscript(self)
        self.workspace = Path(command.workspace) if command is not None else None
        self._checkpoints = checkpoints
        self._reply_index: int | None = None

        title = QLabel(self.tr("Chat"))
        title.setObjectName("pageTitle")
        self.picker = QComboBox()
        self.picker.setObjectName("checkpointPicker")
        self.picker.setMinimumWidth(360)
        self.picker.setToolTip(self.tr("Checkpoints of the runs in this workspace"))
        self.picker.currentIndexChanged.connect(self._update_buttons)
        browse = QPushButton(self.tr("Open folder…"))
        browse.clicked.connect(self._on_browse_clicked)
        self.load_button = QPushButton(self.tr("Load"))
        self.load_button.clicked.connect(self._on_load_clicked)
        self.int8 = QCheckBox(self.tr("Int8 (CPU)"))
        self.int8.setObjectName("chatInt8")
        self.int8.setToolTip(self.tr("Decode with int8 weights on the CPU (--quantize int8): a quarter of the bytes "
                                     "read per token, so faster replies on a CPU, with slightly different logits. "
                                     "Applies on Load."))
        self.int8.setChecked(settings.value("chat/int8", False, bool))
        self.server_state = QLabel(self.tr("No checkpoint loaded."))
        self.server_state.setObjectName("serverState")
        self.server_state.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(QLabel(self.tr("Checkpoint")))
        top.addWidget(self.picker, 1)
        top.addWidget(browse)
        top.addWidget(self.int8)
        top.addWidget(self.load_button)

        self.pane = TranscriptPane(self.transcript)
        self.input = ChatInput()
        self.input.setObjectName("chatInput")
        self.input.setPlaceholderText(self.tr("Write a message — Enter sends, Shift+Enter adds a line"))
        self.input.setMaximumHeight(90)
        self.input.submitted.connect(self._on_send_clicked)
        self.send = QPushButton(self.tr("Send"))
        self.send.setObjectName("primaryButton")
        self.send.clicked.connect(self._on_send_clicked)
        self.stop = QPushButton(self.tr("Stop"))
        self.stop.setShortcut("Esc")
        self.stop.clicked.connect(client.cancel)
        self.new_chat = QPushButton(self.tr("New chat"))
        self.new_chat.setShortcut("Ctrl+Shift+N")
        self.new_chat.clicked.connect(self._on_new_chat_clicked)
        send_col = QVBoxLayout()
        for w in (self.send, self.stop, self.new_chat):
            send_col.addWidget(w)
        bottom = QHBoxLayout()
        bottom.addWidget(self.input, 1)
        bottom.addLayout(send_col)
        self.inside = InsidePanel(client, self.transcript, self.system_text)
        self.inside.setObjectName("insidePanel")
        self.inside.hide()
        self.look_inside = QPushButton(self.tr("Look inside"))
        self.look_inside.setObjectName("lookInside")
        self.look_inside.setCheckable(True)
        self.look_inside.setToolTip(self.tr("Show the last reply's tokens with the model's probabilities and "
                                            "alternatives, and its attention heatmap (one extra pass over the reply, "
                                            "only while open)"))
        self.look_inside.toggled.connect(self._on_look_inside_toggled)
        send_col.addWidget(self.look_inside)
        self.split = split = QSplitter(Qt.Orientation.Vertical)
        split.setChildrenCollapsible(False)
        split.addWidget(self.pane)
        split.addWidget(self.inside)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        left = QVBoxLayout()
        left.addWidget(split, 1)
        left.addLayout(bottom)

        self.system = QPlainTextEdit()
        self.system.setObjectName("systemPrompt")
        self.system.setPlaceholderText(self.tr("Optional: how the model should behave"))
        self.system.setMaximumHeight(100)
        self.system.setPlainText(settings.value("chat/system", "", str))
        sys_box = QGroupBox(self.tr("System prompt"))
        QVBoxLayout(sys_box).addWidget(self.system)
        self.sampling = SamplingBox("chat")
        self.controls = self.sampling.controls
        self.saved = SavedChats(self.workspace, self.transcript, self._chat_meta)
        self.saved.chat_opened.connect(self._on_chat_opened)
        self.save_button, self.file_state = self.saved.save_button, self.saved.state
        right = QVBoxLayout()
        right.addWidget(sys_box)
        right.addWidget(self.sampling)
        right.addWidget(self.saved)
        right.addStretch(1)
        single = QWidget()
        body = QHBoxLayout(single)
        body.setContentsMargins(0, 8, 0, 0)
        body.addLayout(left, 3)
        body.addLayout(right, 1)
        single_page = QWidget()
        sp = QVBoxLayout(single_page)
        sp.setContentsMargins(0, 8, 0, 0)
        sp.addLayout(top)
        sp.addWidget(self.server_state)
        sp.addWidget(single, 1)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("chatModes")
        self.tabs.addTab(single_page, self.tr("Chat"))
        self.ab = None
        if command is not None:
            from studio.views.chat_ab import ABChatView
            self.ab = ABChatView(command, checkpoints)
            self.tabs.addTab(self.ab, self.tr("Compare A/B"))
        self.tabs.tabBar().setVisible(self.ab is not None)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(24, 16, 24, 16)
        lay.addWidget(title)
        lay.addWidget(self.tabs, 1)

        client.loading.connect(self._on_loading)
        client.ready.connect(self._on_ready)
        client.token_received.connect(self._on_token)
        client.reply_finished.connect(self._on_reply_finished)
        client.request_failed.connect(self._on_request_failed)
        client.failed.connect(self._on_server_failed)
        self.transcript.cleared.connect(self._on_cleared)
        self.transcript.message_added.connect(self._update_buttons)
        self._update_buttons()

    @property
    def _bubbles(self):
        return self.pane.bubbles

    # ------------------------------------------------------------------ API
    def refresh_checkpoints(self) -> None:
        current = self.picker.currentData()
        self.picker.blockSignals(True)
        self.picker.clear()
        for label, path in self._checkpoints():
            self.picker.addItem(label, path)
        i = self.picker.findData(current)
        if i >= 0:
            self.picker.setCurrentIndex(i)
        self.picker.blockSignals(False)
        if self.ab is not None:
            self.ab.refresh_checkpoints()
        self._update_buttons()

    def load_checkpoint(self, path: str) -> None:
        self.tabs.setCurrentIndex(0)
        i = self.picker.findData(path)
        if i < 0:
            self.picker.addItem(f"{Path(path).parent.parent.name} · {Path(path).name}", path)
            i = self.picker.count() - 1
        self.picker.setCurrentIndex(i)
        self.client.load(path, self.int8.isChecked())

    def params(self) -> dict:
        return self.sampling.params()

    def system_text(self) -> str:
        return self.system.toPlainText()

    def save_settings(self) -> None:
        settings.set_value("chat/system", self.system.toPlainText())
        settings.set_value("chat/int8", self.int8.isChecked())
        self.sampling.save_settings()
        if self.ab is not None:
            self.ab.save_settings()

    def close_servers(self) -> None:
        """Stop every chat server this page started (the single chat's client is closed by its owner)."""
        if self.ab is not None:
            self.ab.close_servers()

    def save_chat(self) -> Path | None:
        """Save the conversation as a new file under <workspace>/chats; returns its path."""
        return self.saved.save()

    def open_chat_file(self, path: str | Path) -> bool:
        """Reopen a saved chat: its messages, system prompt and sampling; its checkpoint is offered in the picker."""
        return self.saved.open(path)

    # ------------------------------------------------------------------ slots
    def _chat_meta(self) -> dict:
        return {"checkpoint": self.client.checkpoint, "system": self.system.toPlainText(), "params": self.params()}

    def _on_chat_opened(self, path: str, header: dict, messages: list) -> None:
        if self._reply_index is not None:
            self.client.cancel()
        self.transcript.restore(messages)
        self.system.setPlainText(str(header.get("system") or ""))
        for key, value in (header.get("params") or {}).items():
            if key in self.controls and isinstance(value, (int, float)):
                self.controls[key].setValue(value)
        ckpt = header.get("checkpoint")
        if ckpt and self.picker.findData(ckpt) < 0:
            self.picker.addItem(f"{Path(ckpt).parent.parent.name} · {Path(ckpt).name}", ckpt)
        if ckpt:
            self.picker.setCurrentIndex(self.picker.findData(ckpt))
        if ckpt and self.client.checkpoint != ckpt:
            self.saved.show_state(self.tr("Opened {0} · Load its checkpoint to continue it").format(Path(path).name))
        self._update_buttons()

    def _on_browse_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self, self.tr("Open a checkpoint folder"), str(Path.home()))
        if path:
            self.load_checkpoint(path)

    def _on_load_clicked(self) -> None:
        path = self.picker.currentData()
        if path:
            self.client.load(path, self.int8.isChecked())

    def _on_loading(self, path: str) -> None:
        self.server_state.setText(self.tr("Loading {0}…").format(html.escape(path)))
        self._update_buttons()

    def _on_ready(self, info: dict) -> None:
        params = info.get("params")
        bits = [str(info.get("checkpoint") or ""), self.tr("step {0}").format(info.get("step", "?")),
                str(info.get("stage") or ""), self.tr("{0:,} params").format(params) if isinstance(params, int) else "",
                str(info.get("device") or ""), self.tr("int8 weights") if self.client.int8 else ""]
        self.server_state.setText(" · ".join([self.tr("<b>Ready</b>"), *(html.escape(b) for b in bits if b)]))
        self.inside.forget()  # a new server knows none of the earlier replies' token ids
        self._update_buttons()

    def _on_server_failed(self, message: str, tail: str) -> None:
        last = "<br>".join(html.escape(ln) for ln in tail.splitlines()[-4:])
        self.server_state.setText(f"<span style='color:#d9534f'><b>{html.escape(message)}</b></span>"
                                  + (f"<br><small>{last}</small>" if last else ""))
        self._update_buttons()

    def _on_send_clicked(self) -> None:
        text = self.input.toPlainText().strip()
        if not text or not self.client.is_ready or self._reply_index is not None:
            return
        self.transcript.add("user", text)
        messages = self.transcript.request_messages(self.system.toPlainText())
        self._reply_index = self.transcript.add("assistant", "")
        self.input.clear()
        req = self.client.generate(messages, self.params())
        if req is None:
            self.transcript.finish(self._reply_index, "failed", {})
            self._reply_index = None
        else:
            self.inside.remember(self._reply_index, req)
        self.save_settings()
        self._update_buttons()

    def _on_token(self, _req, text: str) -> None:
        if self._reply_index is not None:
            self.transcript.append_text(self._reply_index, text)

    def _on_reply_finished(self, _req, status: str, stats: dict) -> None:
        if self._reply_index is not None:
            self.transcript.finish(self._reply_index, status, stats)
            self._reply_index = None
            if self.inside.isVisible():
                self.inside.look()
        self._update_buttons()

    def _on_look_inside_toggled(self, on: bool) -> None:
        self.inside.setVisible(on)
        if on:
            height = sum(self.split.sizes()) or self.split.height()
            self.split.setSizes([height * 45 // 100, height * 55 // 100])   # the chat stays readable above
            self.inside.look()

    def _on_request_failed(self, _req, message: str, hint: str) -> None:
        self.server_state.setText(f"<span style='color:#d9534f'>{html.escape(message)}</span> {html.escape(hint)}")

    def _on_new_chat_clicked(self) -> None:
        if self._reply_index is not None:
            self.client.cancel()
        self.transcript.clear()

    def _on_cleared(self) -> None:
        self._reply_index = None
        self.inside.forget()
        self._update_buttons()

    def _update_buttons(self, *_args) -> None:
        busy = self._reply_index is not None
        self.send.setEnabled(self.client.is_ready and not busy)
        self.stop.setEnabled(busy)
        # a listed checkpoint can always be (re)loaded: this was once only re-checked on server events, so the
        # button stayed disabled after the picker filled in (from the sidebar, and after every restart)
        self.load_button.setEnabled(self.picker.currentData() is not None)
        self.saved.set_can_save(bool(self.transcript.messages) and not busy)
