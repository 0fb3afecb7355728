"""The token view: a chat's prompt and reply as the model saw them, one box per token.

Prompt tokens are grey; reply tokens are coloured by the probability the model gave them (red = it was surprised,
green = it was sure). Pointing at or clicking a reply token lists its id, its probability and the model's five
likeliest alternatives at that point. Fed by the engine's `inspect` event (engine/introspect.py).
"""

from __future__ import annotations

import colorsys
import html

from PySide6.QtCore import QUrl, Signal
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

PROMPT_SHADES = ("#e5e7eb", "#d1d5db")   # alternate, so neighbouring prompt tokens stay apart


def probability_colour(p: float) -> str:
    """Red (0) through amber to green (1), light enough to read dark text on."""
    p = min(max(p, 0.0), 1.0)
    r, g, b = colorsys.hls_to_rgb(p / 3, 0.78, 0.75)   # hue 0 = red, 1/6 = yellow, 1/3 = green
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def visible(text: str) -> str:
    """A token's text with its whitespace made visible: spaces as ·, newlines as ↵, tabs as →."""
    return text.replace(" ", "·").replace("\n", "↵").replace("\t", "→") or "∅"


def tokens_html(tokens: list[dict]) -> str:
    """The tokens as HTML boxes; each reply token is a link `tok:<index>` so hovering or clicking can explain it."""
    parts = []
    for i, t in enumerate(tokens):
        label = html.escape(visible(str(t.get("text", ""))))
        if t.get("reply") and "prob" in t:
            colour = probability_colour(float(t["prob"]))
            parts.append(f'<a href="tok:{i}" style="background:{colour};color:#111;text-decoration:none;'
                         f'white-space:nowrap">&nbsp;{label}&nbsp;</a>')
        else:
            shade = PROMPT_SHADES[i % 2]
            parts.append(f'<span style="background:{shade};color:#374151;white-space:nowrap">'
                         f'&nbsp;{label}&nbsp;</span>')
        parts.append(" ")
        if str(t.get("text", "")).endswith("\n"):
            parts.append("<br>")
    return "<div style='line-height:170%;font-family:monospace'>" + "".join(parts) + "</div>"


class TokenView(QWidget):
    token_chosen = Signal(int)             # index into the inspected tokens

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.tokens: list[dict] = []
        self.text = QTextBrowser()
        self.text.setObjectName("tokenText")
        self.text.setOpenLinks(False)
        self.text.anchorClicked.connect(self._on_anchor)
        self.text.highlighted.connect(self._on_anchor)
        self.detail = QLabel(self.tr("Point at a coloured reply token to see the model's alternatives."))
        self.detail.setObjectName("tokenDetail")
        self.detail.setWordWrap(True)
        self.table = QTableWidget(0, 3)
        self.table.setObjectName("tokenAlternatives")
        self.table.setHorizontalHeaderLabels([self.tr("Alternative"), self.tr("Id"), self.tr("Probability")])
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2):  # id and probability: as wide as their numbers, the rest for the token's text
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMinimumWidth(230)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        side = QWidget()
        col = QVBoxLayout(side)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.detail)
        col.addWidget(self.table, 1)
        split = QSplitter()
        split.addWidget(self.text)
        split.addWidget(side)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)

    def show_inspection(self, data: dict) -> None:
        self.tokens = list(data.get("tokens") or [])
        self.text.setHtml(tokens_html(self.tokens))
        reply = [i for i, t in enumerate(self.tokens) if t.get("reply") and "prob" in t]
        if reply:
            self.show_token(min(reply, key=lambda i: self.tokens[i]["prob"]))   # start at the biggest surprise

    def show_token(self, index: int) -> None:
        if not 0 <= index < len(self.tokens) or "prob" not in self.tokens[index]:
            return
        t = self.tokens[index]
        self.detail.setText(self.tr("<b>{0}</b> · id {1} · probability {2:.1%} — the model's likeliest "
                                    "alternatives here:").format(html.escape(visible(t["text"])), t["id"],
                                                                  t["prob"]))
        top = t.get("top") or []
        self.table.setRowCount(len(top))
        for row, alt in enumerate(top):
            cells = (visible(str(alt.get("text", ""))), str(alt.get("id", "")), f"{float(alt.get('prob', 0)):.1%}")
            for col, value in enumerate(cells):
                item = QTableWidgetItem(value)
                if alt.get("id") == t["id"]:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(row, col, item)
        self.token_chosen.emit(index)

    def _on_anchor(self, url: QUrl) -> None:
        target = url.toString()
        if target.startswith("tok:") and target[4:].isdigit():
            self.show_token(int(target[4:]))
