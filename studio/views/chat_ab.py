"""ABChatView: compare two checkpoints (or one checkpoint under two sampling settings) on the same prompt.

Both sides stream at once, each from its own chat server; the user then picks A, B or a tie, and the choice is
appended to the workspace's preference file (studio.models.preferences) in the format the DPO stage reads. The
conversation continues from the preferred reply (A's on a tie), so later turns stay one conversation.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import QT_TRANSLATE_NOOP, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QSplitter, QVBoxLayout, QWidget

from studio import settings
from studio.models.preferences import Side, append_preference, preference_record
from studio.views.chat_ab_side import ABSide
from studio.views.chat_input import ChatInput

PREFERRED = QT_TRANSLATE_NOOP("ABChatView", "preferred")          # ABChatView translates them when shown
NOT_PREFERRED = QT_TRANSLATE_NOOP("ABChatView", "not preferred")
TIE = QT_TRANSLATE_NOOP("ABChatView", "tie")
VERDICTS = {"a": (PREFERRED, NOT_PREFERRED), "b": (NOT_PREFERRED, PREFERRED), "tie": (TIE, TIE)}


class ABChatView(QWidget):
    preference_saved = Signal(str, dict)     # file path, the record appended

    def __init__(self, command, checkpoints=lambda: [], parent: QWidget | None = None):
        super().__init__(parent)
        self.workspace = Path(command.workspace)
        self._checkpoints = checkpoints
        self.history: list[dict] = []          # the conversation both sides answer: user turns + preferred replies
        self._pending: str | None = None       # the user turn both sides are answering or awaiting a choice on
        self.a = ABSide("A", command)
        self.b = ABSide("B", command)

        self.system = QLineEdit(settings.value("chat_ab/system", "", str))
        self.system.setObjectName("abSystemPrompt")
        self.system.setPlaceholderText(self.tr("Optional system prompt, sent to both sides"))
        split = QSplitter()
        split.addWidget(self.a)
        split.addWidget(self.b)
        split.setChildrenCollapsible(False)

        self.input = ChatInput()
        self.input.setObjectName("chatInput")
        self.input.setPlaceholderText(self.tr("One prompt for both sides — Enter sends, Shift+Enter adds a line"))
        self.input.setMaximumHeight(70)
        self.input.submitted.connect(self._on_send_clicked)
        self.send = QPushButton(self.tr("Send to both"))
        self.send.setObjectName("primaryButton")
        self.send.clicked.connect(self._on_send_clicked)
        self.stop = QPushButton(self.tr("Stop"))
        self.stop.clicked.connect(self._on_stop_clicked)
        self.new_chat = QPushButton(self.tr("New comparison"))
        self.new_chat.clicked.connect(self._on_new_chat_clicked)
        buttons = QVBoxLayout()
        for w in (self.send, self.stop, self.new_chat):
            buttons.addWidget(w)
        entry = QHBoxLayout()
        entry.addWidget(self.input, 1)
        entry.addLayout(buttons)

        self.pick_a = QPushButton(self.tr("◀ &A is better"))      # Alt+A, Alt+T, Alt+B
        self.pick_tie = QPushButton(self.tr("&Tie"))
        self.pick_b = QPushButton(self.tr("&B is better ▶"))
        for w, winner in ((self.pick_a, "a"), (self.pick_tie, "tie"), (self.pick_b, "b")):
            w.setObjectName("abChoice")
            w.clicked.connect(lambda _c=False, winner=winner: self.choose(winner))
        self.verdict = QLabel(self.tr("Load a checkpoint on each side (the same one twice compares two sampling "
                                      "settings)."))
        self.verdict.setObjectName("abVerdict")
        self.verdict.setWordWrap(True)
        choice = QHBoxLayout()
        choice.addWidget(self.pick_a)
        choice.addWidget(self.pick_tie)
        choice.addWidget(self.pick_b)
        choice.addWidget(self.verdict, 1)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 8, 0, 0)
        lay.addWidget(self.system)
        lay.addWidget(split, 1)
        lay.addLayout(choice)
        lay.addLayout(entry)
        for side in (self.a, self.b):
            side.state_changed.connect(self._update_buttons)
            side.reply_finished.connect(self._on_side_finished)
        self._update_buttons()

    # ------------------------------------------------------------------ API
    def refresh_checkpoints(self) -> None:
        items = self._checkpoints()
        self.a.set_checkpoints(items)
        self.b.set_checkpoints(items)
        self._update_buttons()

    @property
    def awaiting_choice(self) -> bool:
        return self._pending is not None and not (self.a.busy or self.b.busy)

    def choose(self, winner: str) -> Path | None:
        """Record the user's choice for the pending turn; returns the preference file written."""
        if not self.awaiting_choice:
            return None
        ra, rb = self.a.last_reply(), self.b.last_reply()
        messages = self._request_messages()
        record = preference_record(
            messages,
            Side(self.a.client.checkpoint or "", self.a.sampling.params(), ra["content"], ra.get("stats") or {}),
            Side(self.b.client.checkpoint or "", self.b.sampling.params(), rb["content"], rb.get("stats") or {}),
            winner)
        try:
            path = append_preference(self.workspace, record)
        except OSError as e:
            self.verdict.setText(self.tr("<span style='color:#d9534f'>Could not write the preference file: {0}</span> "
                                         "Check that the workspace is writable.").format(html.escape(str(e))))
            return None
        va, vb = VERDICTS[winner]
        self.a.transcript.annotate(len(self.a.transcript.messages) - 1, self.tr(va))
        self.b.transcript.annotate(len(self.b.transcript.messages) - 1, self.tr(vb))
        self.history += [{"role": "user", "content": self._pending},
                         {"role": "assistant", "content": rb["content"] if winner == "b" else ra["content"]}]
        self._pending = None
        what = {"a": self.tr("A preferred"), "b": self.tr("B preferred"),
                "tie": self.tr("Tie recorded (DPO skips ties)")}[winner]
        where = html.escape(str(path.relative_to(self.workspace)))
        self.verdict.setText(self.tr("{0} · saved to <code>{1}</code> · the conversation continues from the "
                                     "preferred reply.").format(what, where))
        self.preference_saved.emit(str(path), record)
        self._update_buttons()
        return path

    def save_settings(self) -> None:
        settings.set_value("chat_ab/system", self.system.text())
        self.a.sampling.save_settings()
        self.b.sampling.save_settings()

    def close_servers(self) -> None:
        self.a.close_server()
        self.b.close_server()

    # ------------------------------------------------------------------ slots
    def _request_messages(self) -> list[dict]:
        system = self.system.text().strip()
        head = [{"role": "system", "content": system}] if system else []
        return head + self.history + [{"role": "user", "content": self._pending or ""}]

    def _on_send_clicked(self) -> None:
        text = self.input.toPlainText().strip()
        if not text or not self.send.isEnabled():
            return
        if self.awaiting_choice:   # a new prompt without a choice skips that turn: mark it, keep it out of the chat
            for side in (self.a, self.b):
                side.transcript.annotate(len(side.transcript.messages) - 1, "skipped")
        self._pending = text
        messages = self._request_messages()
        sent = [side.ask(text, messages) for side in (self.a, self.b)]
        self.input.clear()
        if not all(sent):
            self.verdict.setText(self.tr("A server was not ready; the turn cannot be compared."))
        else:
            self.verdict.setText(self.tr("Both sides are answering…"))
        self.save_settings()
        self._update_buttons()

    def _on_side_finished(self) -> None:
        if self._pending is None or self.a.busy or self.b.busy:
            return
        replies = (self.a.last_reply(), self.b.last_reply())
        if not all(r["content"].strip() for r in replies):
            # an empty reply is no preference pair (the DPO reader would reject the line): skip this turn
            self._pending = None
            self.verdict.setText(self.tr("A side gave no reply, so there is nothing to compare; send another prompt."))
        elif {r.get("status") for r in replies} <= {"completed"}:
            self.verdict.setText(self.tr("Which reply is better?"))
        else:
            self.verdict.setText(self.tr("A reply was cut short; pick anyway, or send another prompt."))
        self._update_buttons()

    def _on_stop_clicked(self) -> None:
        for side in (self.a, self.b):
            if side.busy:
                side.client.cancel()

    def _on_new_chat_clicked(self) -> None:
        self._on_stop_clicked()
        self.history.clear()
        self._pending = None
        for side in (self.a, self.b):
            side.reply_index = None
            side.transcript.clear()
        self.verdict.setText(self.tr("New comparison."))
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy = self.a.busy or self.b.busy
        # sending while a choice is pending skips that turn: it never joined the conversation
        self.send.setEnabled(self.a.ready and self.b.ready and not busy)
        self.stop.setEnabled(busy)
        for w in (self.pick_a, self.pick_tie, self.pick_b):
            w.setEnabled(self.awaiting_choice)
