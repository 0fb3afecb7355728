"""TranscriptPane: a scrolling column of chat bubbles drawn from a ChatTranscript, following its signals.

Shared by the single chat and both sides of the A/B comparison; it draws messages and knows nothing about
servers, sampling or preferences.
"""

from __future__ import annotations

from PySide6.QtCore import QT_TRANSLATE_NOOP, Qt, QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from studio.i18n import tr
from studio.models.chat_transcript import ChatTranscript

ROLE_NAMES = {"user": QT_TRANSLATE_NOOP("Bubble", "You"), "assistant": QT_TRANSLATE_NOOP("Bubble", "Model"),
              "system": QT_TRANSLATE_NOOP("Bubble", "System")}


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
        self.who = QLabel(self.tr(ROLE_NAMES.get(role, role)))
        self.who.setObjectName("bubbleRole")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 8, 12, 8)
        lay.addWidget(self.who)
        lay.addWidget(self.text)
        lay.addWidget(self.stats)


def stats_text(m: dict) -> str:
    """The line under a finished reply: status when not completed, tokens, speed, time to first token."""
    s = m.get("stats") or {}
    bits = [m["status"]] if m.get("status") not in (None, "completed") else []
    if s.get("completion_tokens") is not None:
        bits.append(tr("{0} tokens").format(s["completion_tokens"]))
    if s.get("tokens_per_s"):
        bits.append(f"{s['tokens_per_s']:.1f} tok/s")
    if s.get("time_to_first_token") is not None:
        bits.append(tr("first token {0:.0f} ms").format(1000 * s["time_to_first_token"]))
    if m.get("verdict"):
        bits.append(m["verdict"])
    return " · ".join(bits)


class TranscriptPane(QScrollArea):
    def __init__(self, transcript: ChatTranscript, assistant_name: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.transcript = transcript
        self.assistant_name = assistant_name or self.tr("Model")
        self.bubbles: list[Bubble] = []
        self.setObjectName("chatScroll")
        self.setWidgetResizable(True)
        host = QWidget()
        self.list_layout = QVBoxLayout(host)
        self.list_layout.addStretch(1)
        self.setWidget(host)
        self.verticalScrollBar().rangeChanged.connect(self._on_scroll_range)
        transcript.message_added.connect(self._on_message_added)
        transcript.message_updated.connect(self._on_message_updated)
        transcript.cleared.connect(self._on_cleared)

    def _on_message_added(self, i: int) -> None:
        m = self.transcript.messages[i]
        bubble = Bubble(m["role"])
        if m["role"] == "assistant":
            bubble.who.setText(self.assistant_name)
        bubble.text.setText(m["content"] or "…")
        row = QHBoxLayout()
        if m["role"] == "user":
            row.addStretch(1)
        row.addWidget(bubble, 4)
        if m["role"] != "user":
            row.addStretch(1)
        self.list_layout.insertLayout(self.list_layout.count() - 1, row)
        self.bubbles.append(bubble)

    def _on_message_updated(self, i: int) -> None:
        m, bubble = self.transcript.messages[i], self.bubbles[i]
        bubble.text.setText(m["content"] or ("…" if "status" not in m else self.tr("(empty reply)")))
        if "status" in m:
            text = stats_text(m)
            bubble.stats.setText(text)
            bubble.stats.setVisible(bool(text))

    def _on_cleared(self) -> None:
        while self.list_layout.count() > 1:
            row = self.list_layout.takeAt(0).layout()
            while row is not None and row.count():
                w = row.takeAt(0).widget()
                if w is not None:
                    w.deleteLater()
        self.bubbles.clear()

    def _on_scroll_range(self, _lo: int, hi: int) -> None:
        QTimer.singleShot(0, lambda: self.verticalScrollBar().setValue(hi))
