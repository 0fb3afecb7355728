"""ChatTranscript: the messages of one conversation, with the assistant's reply growing token by token.

What the chat view draws and what the chat server receives; knows nothing about processes or widgets.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal


class ChatTranscript(QObject):
    message_added = Signal(int)      # index
    message_updated = Signal(int)    # index (text appended, or stats set)
    cleared = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.messages: list[dict] = []   # {"role", "content", "stats"?, "status"?, "verdict"?}

    def add(self, role: str, content: str = "") -> int:
        self.messages.append({"role": role, "content": content})
        i = len(self.messages) - 1
        self.message_added.emit(i)
        return i

    def append_text(self, index: int, text: str) -> None:
        self.messages[index]["content"] += text
        self.message_updated.emit(index)

    def finish(self, index: int, status: str, stats: dict) -> None:
        self.messages[index]["status"] = status
        self.messages[index]["stats"] = stats
        self.message_updated.emit(index)

    def annotate(self, index: int, verdict: str) -> None:
        """A note shown under a finished reply (e.g. "preferred" in an A/B comparison); never sent to a model."""
        self.messages[index]["verdict"] = verdict
        self.message_updated.emit(index)

    def restore(self, messages: list[dict]) -> None:
        """Replace the conversation with saved messages (a reopened chat); finished replies keep their stats."""
        self.clear()
        for m in messages:
            i = self.add(m["role"], m["content"])
            if m["role"] == "assistant":
                self.finish(i, m.get("status") or "completed", m.get("stats") or {})

    def clear(self) -> None:
        self.messages.clear()
        self.cleared.emit()

    def request_messages(self, system: str = "") -> list[dict]:
        """The conversation as the server wants it: an optional system turn, then finished user/assistant turns."""
        out = [{"role": "system", "content": system}] if system.strip() else []
        for m in self.messages:
            if m["role"] in ("user", "assistant") and (m["role"] == "user" or m.get("status") != "failed"):
                out.append({"role": m["role"], "content": m["content"]})
        return out
