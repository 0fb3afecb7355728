"""The manual never scrolls sideways in a 1024x700 window: code blocks with lines over 100 characters wrap at the
view's width, in English and in Chinese (the copy of a command keeps its one line: the wrap is only drawn)."""

from __future__ import annotations

import pytest

from studio.views.manual_view import ManualDialog


@pytest.mark.parametrize("language", ["en", "zh"])
def test_no_chapter_scrolls_sideways(qtbot, language):
    dialog = ManualDialog()
    qtbot.addWidget(dialog)
    dialog.resize(1024, 700)
    dialog.show()
    qtbot.waitExposed(dialog)
    for number in range(1, 9):
        dialog.open_chapter(number, language)
        assert dialog.view.horizontalScrollBar().maximum() == 0, f"{language} chapter {number} scrolls sideways"
    dialog.open_chapter(6, language)                    # its experiment: 5 commands of up to 124 characters
    text = dialog.view.toPlainText()
    assert 'minigpt generate runs/ch4-sft --prompt "Tell me about the sea." --temperature 1.0 --top-p 0.9' in text
