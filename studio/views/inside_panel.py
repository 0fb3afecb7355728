"""The Chat page's "Look inside" panel: the last finished reply's tokens and attention, side by side in tabs.

It asks the chat server to `inspect` a reply only while the panel is open (one extra forward pass per look), so a
normal chat costs nothing extra. Which reply: the newest finished one; its exact token ids when this server wrote
it, else the text re-encoded (a chat reopened from disk).
"""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QTabWidget, QVBoxLayout, QWidget

from studio.chat_client import ChatClient
from studio.models.chat_transcript import ChatTranscript
from studio.views.attention_view import AttentionView
from studio.views.token_view import TokenView


class InsidePanel(QWidget):
    def __init__(self, client: ChatClient, transcript: ChatTranscript, system_prompt, parent: QWidget | None = None):
        super().__init__(parent)
        self.client, self.transcript, self._system_prompt = client, transcript, system_prompt
        self.reply_requests: dict[int, object] = {}     # transcript index -> the generate request that wrote it
        self.pending = None                             # the inspect request in flight
        self.looked_at: int | None = None               # transcript index on show
        self.state = QLabel(self.tr("Send a message: its reply appears here token by token."))
        self.state.setObjectName("insideState")
        self.state.setWordWrap(True)
        self.tokens = TokenView()
        self.attention = AttentionView()
        self.tabs = QTabWidget()
        self.tabs.setObjectName("insideTabs")
        self.tabs.addTab(self.tokens, self.tr("Tokens and probabilities"))
        self.tabs.addTab(self.attention, self.tr("Attention"))
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.state)
        lay.addWidget(self.tabs, 1)
        client.inspected.connect(self._on_inspected)
        client.request_failed.connect(self._on_request_failed)
        self.attention.selection_changed.connect(lambda *_: self.look())

    def remember(self, index: int, request_id) -> None:
        """The transcript's reply `index` is being written by generate request `request_id`."""
        self.reply_requests[index] = request_id

    def latest_reply(self) -> int | None:
        for i in range(len(self.transcript.messages) - 1, -1, -1):
            m = self.transcript.messages[i]
            if m["role"] == "assistant" and m.get("status") == "completed" and m["content"]:
                return i
        return None

    def look(self) -> None:
        """Inspect the newest finished reply, if the panel is open and the server is ready."""
        index = self.latest_reply()
        if not self.isVisible() or index is None or not self.client.is_ready:
            if index is None:
                self.state.setText(self.tr("No finished reply yet: send a message first."))
            return
        layer, head = self.attention.selection()
        messages = None
        req = self.reply_requests.get(index)
        if req is None:
            messages = self._messages_through(index)
        self.pending = self.client.inspect(reply_id=req, messages=messages, layer=layer, head=head)
        self.looked_at = index
        self.state.setText(self.tr("Looking inside reply {0}…").format(self._reply_number(index)))

    def forget(self) -> None:
        self.reply_requests.clear()

    def _messages_through(self, index: int) -> list[dict]:
        system = self._system_prompt()
        out = [{"role": "system", "content": system}] if system.strip() else []
        for m in self.transcript.messages[:index + 1]:
            if m["role"] == "user" or (m["role"] == "assistant" and m.get("status") != "failed"):
                out.append({"role": m["role"], "content": m["content"]})
        return out

    def _reply_number(self, index: int) -> int:
        return sum(1 for m in self.transcript.messages[:index + 1] if m["role"] == "assistant")

    def _on_inspected(self, req, data: dict) -> None:
        if req != self.pending:
            return
        self.pending = None
        self.tokens.show_inspection(data)
        self.attention.show_inspection(data)
        reply = [t for t in data.get("tokens", []) if t.get("reply")]
        self.state.setText(self.tr("Reply {0}: {1} tokens. Colours show how likely the model found each one "
                                   "(its own probabilities, before temperature and top-p).")
                           .format(self._reply_number(self.looked_at or 0), len(reply)))

    def _on_request_failed(self, req, message: str, hint: str) -> None:
        if req == self.pending:
            self.pending = None
            self.state.setText(f"{message} {hint}".strip())
