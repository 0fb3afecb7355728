"""Help → Manual opens the chapter that explains the page on screen, in the interface's language."""

from __future__ import annotations

from studio import settings
from studio.views.main_window import MainWindow
from studio.views.manual_view import ManualDialog, chapter_files, chapter_for


def test_each_page_maps_to_the_chapter_that_explains_it():
    assert chapter_for("Chat") == 6
    assert chapter_for("Monitor") == 7
    assert chapter_for("Train", wizard_index=0) == 3                     # Data
    assert chapter_for("Train", wizard_index=3) == 8                     # Hardware
    assert chapter_for("Train", wizard_index=2, stage="sft") == 4
    assert chapter_for("Train", wizard_index=2, stage="grpo") == 5


def test_both_languages_have_eight_chapters():
    assert len(chapter_files("en")) == 8
    assert [p.name for p in chapter_files("zh")] == [p.name for p in chapter_files("en")]


def test_the_dialog_renders_a_chapter_in_the_chosen_language(qtbot):
    dialog = ManualDialog()
    qtbot.addWidget(dialog)
    dialog.open_chapter(6, "zh")
    assert dialog.chapters.count() == 8
    assert dialog.chapters.currentRow() == 5
    assert "生成与解码策略" in dialog.view.toPlainText()
    dialog.open_chapter(2, "en")
    assert "grouped-query" in dialog.view.toPlainText()


def test_help_manual_opens_the_current_pages_chapter(qtbot, fake_command):
    settings.set_value("ui/language", "en")
    win = MainWindow(fake_command("slow"), run_doctor=False)
    qtbot.addWidget(win)
    win.show_page(3)                                                     # Chat
    win._on_manual()
    assert win.manual.isVisible()
    assert "decoding" in win.manual.view.toPlainText().lower()
    assert win.manual.chapters.currentRow() == 5
    win.manual.close()


def test_every_knob_tooltip_says_which_chapter_explains_it(qtbot):
    from engine.config import help_for
    from studio.knob_chapters import chapter_of
    from studio.views.fields import Field
    keys = [f"{s}.{k}" for s, knobs in help_for().items() for k in knobs]
    chapters = {p.name[:2] for p in chapter_files("en")}
    for key in keys:
        assert chapter_of(key) is not None and f"{chapter_of(key):02d}" in chapters, key
    field = Field("optim.schedule", "cosine", "Schedule after warm-up.")
    assert "chapter 3" in field.widget.toolTip() and "Help → Manual" in field.widget.toolTip()
