"""What the zh_CN walk looks at: every visible text of a window (labels, buttons, tabs, group titles, menu
actions, combo items, table headers, tooltips) that is still English, and every label or button whose text is
cut off by its widget. Shared by the walk test; the allow-list is explicit and short."""

from __future__ import annotations

import html
import re

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QComboBox,
    QGroupBox,
    QLabel,
    QMenu,
    QPushButton,
    QTabWidget,
    QWidget,
)

CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
# Names and notation that read the same in Chinese: the app's name, config keys, technical names and units;
# "English" is the Language menu naming that language in itself.
ALLOWED = re.compile(
    r"^English$|MiniGPT Studio|MiniGPT|minigpt [a-z]+|\b[a-z_]+\.[a-z_0-9]+\b|[\w.~-]*[/\\][\w./\\~-]*|\bTop-[kp]\b|"
    r"\b(?:YAML|CLI|CPU|GPU|CUDA|MPS|RAM|RSS|KV|QK|MLP|TF32|RoPE|GAE|PPO|GRPO|DPO|SFT|RPO|AdamW|FLOPs?|MiB|GiB|"
    r"KB|MB|ETA|ID|Id|Dropout|beta[12]?|eps|lambda|gamma|rollout|torch|bf16|fp16|fp32|auto|cpu|cuda|mps|"
    r"tok/s|token|tokens|Token|pretrain|sft|dpo|reward|ppo|grpo|utf-8|epoch)\b|"
    r"\b\w*\d\w*\b|\([a-z_]+\)")
ENGLISH_RUN = re.compile(r"[A-Za-z]{2,}[ ,:;]+[A-Za-z]{2,}")


def plain(text: str) -> str:
    """The text a person reads: no HTML tags or entities, no '&' shortcut markers."""
    text = re.sub(r"<[^>]+>", " ", text)
    return html.unescape(text).replace("&&", "\0").replace("&", "").replace("\0", "&").strip()


def is_english(text: str, sources: set[str]) -> bool:
    """Still the English source: a text of the .ts, or two English words in a row once the allowed names go."""
    shown = plain(text)
    if not shown or CJK.search(shown):
        return False
    if ALLOWED.fullmatch(shown):
        return False
    if shown in sources or text in sources:
        return True
    return bool(ENGLISH_RUN.search(ALLOWED.sub(" ", shown)))


def visible_texts(root: QWidget) -> list[tuple[str, str]]:
    """(where, text) of every visible piece of interface text under `root`."""
    out: list[tuple[str, str]] = []

    def add(w: QWidget, what: str, text: str) -> None:
        if text and text.strip():
            out.append((f"{type(w).__name__}#{w.objectName() or '?'} {what}", text))

    for w in [root, *root.findChildren(QWidget)]:
        if not w.isVisible():
            continue
        add(w, "tooltip", w.toolTip())
        if isinstance(w, QLabel):
            add(w, "text", w.text())
        elif isinstance(w, QAbstractButton):
            add(w, "text", w.text())
        elif isinstance(w, QGroupBox):
            add(w, "title", w.title())
        elif isinstance(w, QTabWidget):
            for i in range(w.count()):
                add(w, f"tab {i}", w.tabText(i))
        elif isinstance(w, QComboBox):
            for i in range(w.count()):
                add(w, f"item {i}", w.itemText(i))
        elif isinstance(w, QAbstractItemView) and w.model() is not None and hasattr(w, "horizontalHeader"):
            m = w.model()
            for c in range(m.columnCount()):
                add(w, f"header {c}", str(m.headerData(c, Qt.Orientation.Horizontal) or ""))
        if hasattr(w, "placeholderText"):
            add(w, "placeholder", w.placeholderText())
    return out


def menu_texts(menu: QMenu, path: str = "") -> list[tuple[str, str]]:
    out = []
    for a in menu.actions():
        if a.isSeparator():
            continue
        out.append((f"menu {path}{menu.title()}", a.text()))
        if a.menu() is not None:
            out += menu_texts(a.menu(), f"{path}{menu.title()} → ")
    return out


def cut_off(root: QWidget) -> list[str]:
    """Labels and buttons narrower than their one-line text (word-wrapped and elided ones adapt, so they pass)."""
    bad = []
    for w in root.findChildren(QWidget):
        if not w.isVisible() or not isinstance(w, (QLabel, QPushButton)) or not w.text().strip():
            continue
        if isinstance(w, QLabel) and (w.wordWrap() or type(w).__name__ == "ElidedLabel" or not w.text()):
            continue
        if w.sizeHint().width() > w.width() + 1:
            bad.append(f"{type(w).__name__}#{w.objectName() or '?'} {plain(w.text())!r}: needs "
                       f"{w.sizeHint().width()} px, has {w.width()}")
    return bad
