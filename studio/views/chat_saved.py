"""SavedChats: the Chat page's "Save chat" / "Open chat…" box over `<workspace>/chats/` (studio.models.chat_store).

Saves the transcript it is given with the metadata the page supplies; a reopened chat is handed back through
`chat_opened` for the page to show. Bad files are reported by name and line, never raised at the user.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from studio.models.chat_store import ChatFileError, chats_dir, load_chat, save_chat
from studio.models.chat_transcript import ChatTranscript


class SavedChats(QGroupBox):
    chat_opened = Signal(str, dict, list)     # path, header (checkpoint, system, params), messages

    def __init__(self, workspace: Path | None, transcript: ChatTranscript, meta: Callable[[], dict],
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setTitle(self.tr("Saved chats"))
        self.workspace = workspace
        self.transcript = transcript
        self._meta = meta
        self.save_button = QPushButton(self.tr("Save chat"))
        self.save_button.setToolTip(self.tr("Save this conversation to the workspace's chats folder"))
        self.save_button.clicked.connect(self._on_save_clicked)
        self.open_button = QPushButton(self.tr("Open chat…"))
        self.open_button.clicked.connect(self._on_open_clicked)
        self.state = QLabel()
        self.state.setObjectName("chatFileState")
        self.state.setWordWrap(True)
        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(self.save_button)
        row.addWidget(self.open_button)
        lay.addLayout(row)
        lay.addWidget(self.state)

    def save(self) -> Path | None:
        if self.workspace is None or not self.transcript.messages:
            return None
        try:
            path = save_chat(self.workspace, self.transcript.messages, self._meta())
        except OSError as e:
            self.show_state(self.tr("Could not save the chat: {0}. Check that the workspace is writable.").format(e),
                            error=True)
            return None
        self.show_state(self.tr("Saved to chats/{0}").format(path.name))
        return path

    def open(self, path: str | Path) -> bool:
        try:
            header, messages = load_chat(path)
        except ChatFileError as e:
            self.show_state(str(e), error=True)
            return False
        self.show_state(self.tr("Opened {0}").format(Path(path).name))
        self.chat_opened.emit(str(path), header, messages)
        return True

    def show_state(self, text: str, error: bool = False) -> None:
        self.state.setText(f"<span style='color:#d9534f'>{html.escape(text)}</span>" if error else html.escape(text))

    def set_can_save(self, can: bool) -> None:
        self.save_button.setEnabled(self.workspace is not None and can)

    def _on_save_clicked(self) -> None:
        self.save()

    def _on_open_clicked(self) -> None:
        start = chats_dir(self.workspace) if self.workspace is not None else Path.home()
        path, _ = QFileDialog.getOpenFileName(self, self.tr("Open a saved chat"), str(start),
                                              self.tr("Chats (*.jsonl)"))
        if path:
            self.open(path)
