"""The Chat page: pick a checkpoint, talk to it. Replies stream token by token into assistant bubbles, with a
system prompt, sampling controls, Stop, New chat and per-reply stats (tokens/s, time to first token).

A view over a ChatTranscript and a ChatClient (which owns the `minigpt serve` process).
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio import settings
from studio.chat_client import ChatClient
from studio.models.chat_transcript import ChatTranscript
from studio.views.chat_input import ChatInput

SAMPLING = (  # key, label, min, max, step/decimals, default, tooltip
    ("temperature", "Temperature", 0.0, 2.0, 2, 0.7,
     "Randomness: 0 always picks the likeliest token; higher is wilder."),
    ("top_k", "Top-k", 0, 1000, None, 50, "Sample only among the k likeliest tokens (0 = no limit)."),
    ("top_p", "Top-p", 0.0, 1.0, 2, 0.95, "Sample from the smallest set of tokens whose probabilities add up to p."),
    ("max_new_tokens", "Max new tokens", 1, 4096, None, 200, "The longest reply, in tokens."),
    ("repetition_penalty", "Repetition penalty", 1.0, 2.0, 2, 1.1,
     "Above 1 makes tokens already in the conversation less likely (less looping)."),
    ("seed", "Seed", -1, 2**31 - 1, None, -1, "Fixes the sampling for repeatable replies (-1 = random)."),
)


class Bubble(QFrame):
    def __init__(self, role: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(f"bubble_{role}")
        self.text = QLabel()
        self.text.setObjectName("bubbleText")
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.stats = QLabel()
        self.stats.setObjectName("bubbleStats")
        self.stats.hide()
        who = QLabel({"user": "You", "assistant": "Model", "system": "System"}.get(role, role))
        who.setObjectName("bubbleRole")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 8, 12, 8)
        lay.addWidget(who)
        lay.addWidget(self.text)
        lay.addWidget(self.stats)


class ChatView(QWidget):
    def __init__(self, client: ChatClient, checkpoints=lambda: [], parent: QWidget | None = None):
        super().__init__(parent)
        self.client = client
        self.transcript = ChatTranscript(self)
        self._checkpoints = checkpoints
        self._reply_index: int | None = None
        self._bubbles: list[Bubble] = []

        title = QLabel("Chat")
        title.setObjectName("pageTitle")
        self.picker = QComboBox()
        self.picker.setObjectName("checkpointPicker")
        self.picker.setMinimumWidth(360)
        self.picker.setToolTip("Checkpoints of the runs in this workspace")
        browse = QPushButton("Open folder…")
        browse.clicked.connect(self._on_browse_clicked)
        self.load_button = QPushButton("Load")
        self.load_button.clicked.connect(self._on_load_clicked)
        self.server_state = QLabel("No checkpoint loaded.")
        self.server_state.setObjectName("serverState")
        self.server_state.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(QLabel("Checkpoint"))
        top.addWidget(self.picker, 1)
        top.addWidget(browse)
        top.addWidget(self.load_button)

        self.list_host = QWidget()
        self.list_layout = QVBoxLayout(self.list_host)
        self.list_layout.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setObjectName("chatScroll")
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self.list_host)
        self.scroll.verticalScrollBar().rangeChanged.connect(self._on_scroll_range)
        self.input = ChatInput()
        self.input.setObjectName("chatInput")
        self.input.setPlaceholderText("Write a message — Enter sends, Shift+Enter adds a line")
        self.input.setMaximumHeight(90)
        self.input.submitted.connect(self._on_send_clicked)
        self.send = QPushButton("Send")
        self.send.setObjectName("primaryButton")
        self.send.clicked.connect(self._on_send_clicked)
        self.stop = QPushButton("Stop")
        self.stop.setShortcut("Esc")
        self.stop.clicked.connect(client.cancel)
        self.new_chat = QPushButton("New chat")
        self.new_chat.setShortcut("Ctrl+Shift+N")
        self.new_chat.clicked.connect(self._on_new_chat_clicked)
        send_col = QVBoxLayout()
        send_col.addWidget(self.send)
        send_col.addWidget(self.stop)
        send_col.addWidget(self.new_chat)
        bottom = QHBoxLayout()
        bottom.addWidget(self.input, 1)
        bottom.addLayout(send_col)
        left = QVBoxLayout()
        left.addWidget(self.scroll, 1)
        left.addLayout(bottom)

        self.system = QPlainTextEdit()
        self.system.setObjectName("systemPrompt")
        self.system.setPlaceholderText("Optional: how the model should behave")
        self.system.setMaximumHeight(100)
        self.system.setPlainText(settings.value("chat/system", "", str))
        sys_box = QGroupBox("System prompt")
        QVBoxLayout(sys_box).addWidget(self.system)
        self.controls: dict[str, QSpinBox | QDoubleSpinBox] = {}
        form = QFormLayout()
        for key, label, lo, hi, dec, default, tip in SAMPLING:
            w = QDoubleSpinBox() if dec is not None else QSpinBox()
            if dec is not None:
                w.setDecimals(dec)
                w.setSingleStep(0.05)
            w.setRange(lo, hi)
            w.setValue(settings.value(f"chat/{key}", default, type(default)))
            w.setToolTip(tip)
            w.setObjectName(f"sampling:{key}")
            lab = QLabel(label)
            lab.setToolTip(tip)
            form.addRow(lab, w)
            self.controls[key] = w
        samp_box = QGroupBox("Sampling")
        samp_box.setLayout(form)
        right = QVBoxLayout()
        right.addWidget(sys_box)
        right.addWidget(samp_box)
        right.addStretch(1)
        body = QHBoxLayout()
        body.addLayout(left, 3)
        body.addLayout(right, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(24, 16, 24, 16)
        lay.addWidget(title)
        lay.addLayout(top)
        lay.addWidget(self.server_state)
        lay.addLayout(body, 1)

        client.loading.connect(self._on_loading)
        client.ready.connect(self._on_ready)
        client.token_received.connect(self._on_token)
        client.reply_finished.connect(self._on_reply_finished)
        client.request_failed.connect(self._on_request_failed)
        client.failed.connect(self._on_server_failed)
        self.transcript.message_added.connect(self._on_message_added)
        self.transcript.message_updated.connect(self._on_message_updated)
        self.transcript.cleared.connect(self._on_cleared)
        self._update_buttons()

    # ------------------------------------------------------------------ API
    def refresh_checkpoints(self) -> None:
        current = self.picker.currentData()
        self.picker.clear()
        for label, path in self._checkpoints():
            self.picker.addItem(label, path)
        i = self.picker.findData(current)
        if i >= 0:
            self.picker.setCurrentIndex(i)

    def load_checkpoint(self, path: str) -> None:
        i = self.picker.findData(path)
        if i < 0:
            self.picker.addItem(f"{Path(path).parent.parent.name} · {Path(path).name}", path)
            i = self.picker.count() - 1
        self.picker.setCurrentIndex(i)
        self.client.load(path)

    def params(self) -> dict:
        p = {k: w.value() for k, w in self.controls.items()}
        if p["seed"] < 0:
            p["seed"] = None
        return p

    def save_settings(self) -> None:
        settings.set_value("chat/system", self.system.toPlainText())
        for k, w in self.controls.items():
            settings.set_value(f"chat/{k}", w.value())

    # ------------------------------------------------------------------ slots
    def _on_browse_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a checkpoint folder", str(Path.home()))
        if path:
            self.load_checkpoint(path)

    def _on_load_clicked(self) -> None:
        path = self.picker.currentData()
        if path:
            self.client.load(path)

    def _on_loading(self, path: str) -> None:
        self.server_state.setText(f"Loading {html.escape(path)}…")
        self._update_buttons()

    def _on_ready(self, info: dict) -> None:
        params = info.get("params")
        self.server_state.setText(
            f"<b>Ready</b> · {html.escape(str(info.get('checkpoint', '')))} · step {info.get('step', '?')} · "
            f"{info.get('stage') or ''} · {f'{params:,} params' if isinstance(params, int) else ''} · "
            f"{html.escape(str(info.get('device', '')))}")
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
        if self.client.generate(messages, self.params()) is None:
            self.transcript.finish(self._reply_index, "failed", {})
            self._reply_index = None
        self.save_settings()
        self._update_buttons()

    def _on_token(self, _req, text: str) -> None:
        if self._reply_index is not None:
            self.transcript.append_text(self._reply_index, text)

    def _on_reply_finished(self, _req, status: str, stats: dict) -> None:
        if self._reply_index is not None:
            self.transcript.finish(self._reply_index, status, stats)
            self._reply_index = None
        self._update_buttons()

    def _on_request_failed(self, _req, message: str, hint: str) -> None:
        self.server_state.setText(f"<span style='color:#d9534f'>{html.escape(message)}</span> {html.escape(hint)}")

    def _on_new_chat_clicked(self) -> None:
        if self._reply_index is not None:
            self.client.cancel()
        self.transcript.clear()

    def _on_message_added(self, i: int) -> None:
        m = self.transcript.messages[i]
        bubble = Bubble(m["role"])
        bubble.text.setText(m["content"] or "…")
        row = QHBoxLayout()
        if m["role"] == "user":
            row.addStretch(1)
        row.addWidget(bubble, 4)
        if m["role"] != "user":
            row.addStretch(1)
        self.list_layout.insertLayout(self.list_layout.count() - 1, row)
        self._bubbles.append(bubble)

    def _on_message_updated(self, i: int) -> None:
        m, bubble = self.transcript.messages[i], self._bubbles[i]
        bubble.text.setText(m["content"] or ("…" if "status" not in m else "(empty reply)"))
        if "status" in m:
            s = m.get("stats") or {}
            bits = [m["status"]] if m["status"] != "completed" else []
            if s.get("completion_tokens") is not None:
                bits.append(f"{s['completion_tokens']} tokens")
            if s.get("tokens_per_s"):
                bits.append(f"{s['tokens_per_s']:.1f} tok/s")
            if s.get("time_to_first_token") is not None:
                bits.append(f"first token {1000 * s['time_to_first_token']:.0f} ms")
            bubble.stats.setText(" · ".join(bits))
            bubble.stats.setVisible(bool(bits))

    def _on_cleared(self) -> None:
        while self.list_layout.count() > 1:
            item = self.list_layout.takeAt(0)
            row = item.layout()
            while row is not None and row.count():
                w = row.takeAt(0).widget()
                if w is not None:
                    w.deleteLater()
        self._bubbles.clear()
        self._reply_index = None
        self._update_buttons()

    def _on_scroll_range(self, _lo: int, hi: int) -> None:
        QTimer.singleShot(0, lambda: self.scroll.verticalScrollBar().setValue(hi))

    def _update_buttons(self) -> None:
        busy = self._reply_index is not None
        self.send.setEnabled(self.client.is_ready and not busy)
        self.stop.setEnabled(busy)
        self.load_button.setEnabled(self.picker.count() > 0)
