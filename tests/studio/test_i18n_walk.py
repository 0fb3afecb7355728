"""The studio in 简体中文: with the zh_CN translator installed, walk every page a user reaches (the Train wizard's
five pages, the Monitor replaying a real run, Runs, Chat with a real reply and Look inside, the Manual dialog and
the menus) at the smallest supported window size, and fail on any visible text still in English and on any label
or button whose text is cut off."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from chat_checkpoints import click_nav
from i18n_walk import cut_off, is_english, menu_texts, visible_texts
from PySide6.QtCore import Qt

from studio import i18n
from studio.engine_cmd import EngineCommand

SIZE = (1024, 700)


def ts_sources() -> set[str]:
    return {m.findtext("source", "") for m in ET.parse(i18n.TS_FILES["zh"]).getroot().iter("message")}


@pytest.fixture
def zh(qapp):
    assert i18n.install_translator("zh") == "zh"
    yield
    i18n.install_translator("en")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_every_page_in_chinese(qtbot, zh, chat_workspace):
    from studio.views.main_window import MainWindow
    sources = ts_sources()
    win = MainWindow(EngineCommand(workspace=chat_workspace))
    qtbot.addWidget(win)
    win.close_prompt = lambda *_: "stop"
    win.resize(*SIZE)
    win.show()
    problems: list[str] = []

    def look(where: str, root=None) -> None:
        qtbot.wait(150)
        root = root or win
        problems.extend(f"{where}: {place}: {text!r}" for place, text in visible_texts(root)
                        if is_english(text, sources))
        problems.extend(f"{where}: cut off: {what}" for what in cut_off(root))

    qtbot.waitUntil(lambda: win.doctor.report is not None, timeout=120_000)
    wizard = win.wizard
    for i, name in enumerate(("Data", "Tokenizer", "Stage", "Hardware", "Review")):
        wizard.go_to(i)
        look(f"Train → {name}")

    win.open_run(str(chat_workspace / "runs" / "tiny-a"))
    monitor = win.monitors.current()
    qtbot.waitUntil(lambda: monitor.state.finished, timeout=30_000)
    monitor.plots.build_all()
    look("Monitor (replayed run)")

    click_nav(qtbot, win, "Runs")
    qtbot.waitUntil(lambda: win.table.rowCount() >= 2, timeout=30_000)
    win.runs.table.selectRow(0)
    look("Runs")

    click_nav(qtbot, win, "Chat")
    chat = win.chat
    qtbot.waitUntil(lambda: chat.picker.count() >= 1, timeout=30_000)
    with qtbot.waitSignal(win.chat_client.ready, timeout=120_000):
        qtbot.mouseClick(chat.load_button, Qt.MouseButton.LeftButton)
    chat.controls["seed"].setValue(3)
    chat.controls["max_new_tokens"].setValue(8)
    qtbot.keyClicks(chat.input, "2 + 3 = ?")
    with qtbot.waitSignal(win.chat_client.reply_finished, timeout=120_000):
        qtbot.mouseClick(chat.send, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(win.chat_client.inspected, timeout=60_000):
        qtbot.mouseClick(chat.look_inside, Qt.MouseButton.LeftButton)
    look("Chat → Look inside (tokens)")
    chat.inside.tabs.setCurrentIndex(1)
    look("Chat → Look inside (attention)")
    if chat.tabs.count() > 1:
        chat.tabs.setCurrentIndex(1)
        look("Chat → Compare A/B")
        chat.tabs.setCurrentIndex(0)

    win._on_manual()
    qtbot.waitUntil(lambda: win.manual.isVisible(), timeout=10_000)
    look("Help → Manual", win.manual)
    win.manual.close()

    for action in win.menuBar().actions():
        problems.extend(f"menus: {place}: {text!r}" for place, text in [("menu bar", action.text()),
                                                                        *menu_texts(action.menu())]
                        if is_english(text, sources))
    win.chat_client.close()
    win.close()
    assert not problems, "untranslated or cut-off text in zh_CN:\n" + "\n".join(problems)
