"""Help → Manual: the 8-chapter manual (docs/manual/{en,zh}) read inside the app, opened at the chapter for the page
the user is on, in the interface's language.

The chapters are Markdown; QTextBrowser renders headings, tables and code blocks, and studio/manual_text.py turns
the TeX formulas into Unicode text. Reading a chapter is cheap (tens of kB), so it happens on the UI thread.
"""

from __future__ import annotations

import functools
from pathlib import Path

from PySide6.QtCore import QLocale, Qt
from PySide6.QtGui import QTextCursor, QTextDocument
from PySide6.QtWidgets import QDialog, QHBoxLayout, QListWidget, QListWidgetItem, QTextBrowser

from studio import settings
from studio.manual_text import readable_markdown

MANUAL_DIR = Path(__file__).resolve().parents[2] / "docs" / "manual"
LANGUAGES = ("en", "zh")

# Which chapter explains what a page is for (1-based chapter numbers).
WIZARD_CHAPTERS = {0: 3, 1: 3, 2: 4, 3: 8, 4: 3}     # Data, Tokenizer, Stage, Hardware, Review
STAGE_CHAPTERS = {"pretrain": 3, "sft": 4, "dpo": 5, "reward": 5, "ppo": 5, "grpo": 5}
PAGE_CHAPTERS = {"Monitor": 7, "Runs": 7, "Chat": 6}


def interface_language() -> str:
    """en or zh: the language chosen in View → Language, else the system locale's."""
    chosen = settings.value("ui/language", "", str)
    if chosen in LANGUAGES:
        return chosen
    return "zh" if QLocale.system().name().lower().startswith("zh") else "en"


def chapter_for(page: str, wizard_index: int = 0, stage: str = "") -> int:
    """The chapter that explains `page` (a sidebar name); on the Stage page, the chapter of the chosen stage."""
    if page == "Train":
        if wizard_index == 2 and stage in STAGE_CHAPTERS:
            return STAGE_CHAPTERS[stage]
        return WIZARD_CHAPTERS.get(wizard_index, 3)
    return PAGE_CHAPTERS.get(page, 1)


def chapter_files(language: str) -> list[Path]:
    folder = MANUAL_DIR / (language if language in LANGUAGES else "en")
    return sorted(folder.glob("[0-9][0-9]-*.md"))


@functools.lru_cache(maxsize=32)
def rendered_chapter(path: Path, mtime: float) -> str:
    """The chapter's Markdown with readable formulas; cached, since converting the TeX is the slow part."""
    return readable_markdown(path.read_text(encoding="utf-8"))


def chapter_title(path: Path) -> str:
    """The chapter's first heading, without the leading '#'."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("# "):
                return line[2:].strip()
    return path.stem


def wrap_code_blocks(doc: QTextDocument) -> None:
    """Let code blocks wrap at the view's width: Markdown marks their lines non-breakable, and a 100-character
    command or formula then scrolled the whole chapter sideways in a 1024-pixel window."""
    cursor = QTextCursor(doc)
    block = doc.begin()
    while block.isValid():
        fmt = block.blockFormat()
        if fmt.nonBreakableLines():
            fmt.setNonBreakableLines(False)
            cursor.setPosition(block.position())
            cursor.setBlockFormat(fmt)
        block = block.next()


class ManualDialog(QDialog):
    """Chapter list on the left, the chapter on the right; non-modal, so the user can keep working beside it."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle(self.tr("Manual"))
        self.resize(980, 680)
        self.chapters = QListWidget()
        self.chapters.setFixedWidth(230)
        self.chapters.setWordWrap(True)
        self.view = QTextBrowser()
        self.view.setOpenExternalLinks(True)
        self.view.setObjectName("manualText")
        row = QHBoxLayout(self)
        row.addWidget(self.chapters)
        row.addWidget(self.view, 1)
        self.chapters.currentRowChanged.connect(self._on_chapter_changed)
        self.language = ""
        self.files: list[Path] = []

    def open_chapter(self, number: int, language: str | None = None) -> None:
        """Show chapter `number` (1-based) in `language` (default: the interface's)."""
        self._load_language(language or interface_language())
        if not self.files:
            self.view.setPlainText(self.tr("The manual was not found in {0}.").format(MANUAL_DIR))
            return
        row = max(0, min(number - 1, len(self.files) - 1))
        if self.chapters.currentRow() == row:
            self._on_chapter_changed(row)
        else:
            self.chapters.setCurrentRow(row)

    def _load_language(self, language: str) -> None:
        if language == self.language and self.files:
            return
        self.language = language
        self.files = chapter_files(language)
        self.chapters.blockSignals(True)
        self.chapters.clear()
        for path in self.files:
            item = QListWidgetItem(chapter_title(path))
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            self.chapters.addItem(item)
        self.chapters.blockSignals(False)

    def _on_chapter_changed(self, row: int) -> None:
        if not 0 <= row < len(self.files):
            return
        path = self.files[row]
        self.view.setSearchPaths([str(path.parent)])
        self.view.setMarkdown(rendered_chapter(path, path.stat().st_mtime))
        wrap_code_blocks(self.view.document())
        self.view.verticalScrollBar().setValue(0)
