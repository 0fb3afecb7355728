"""The Chat page driven as a user does: reached from the sidebar, a listed checkpoint can be loaded (also after
re-selecting it and after a restart) and streams a reply; sampling controls start at the engine's defaults;
a chat is saved to the workspace and reopened."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
from chat_checkpoints import click_nav
from PySide6.QtCore import Qt

from engine.protocol import SAMPLING_DEFAULTS
from studio import settings
from studio.chat_client import ChatClient
from studio.engine_cmd import EngineCommand
from studio.views.chat_view import ChatView
from studio.views.main_window import MainWindow


def open_window(qtbot, workspace) -> MainWindow:
    win = MainWindow(EngineCommand(workspace=workspace), run_doctor=False)
    qtbot.addWidget(win)
    win.show()
    return win


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_load_from_sidebar_streams_and_survives_restart(qtbot, chat_workspace):
    win = open_window(qtbot, chat_workspace)
    click_nav(qtbot, win, "Runs")
    click_nav(qtbot, win, "Chat")
    chat = win.chat
    assert win.stack.currentWidget() is chat
    qtbot.waitUntil(lambda: chat.picker.count() >= 2, timeout=30_000)   # both runs' checkpoints are listed
    assert chat.load_button.isEnabled()
    chat.picker.setFocus()
    qtbot.keyClick(chat.picker, Qt.Key.Key_Down)                         # re-select: still loadable
    assert chat.picker.currentIndex() == 1 and chat.load_button.isEnabled()
    qtbot.keyClick(chat.picker, Qt.Key.Key_Up)
    assert chat.picker.currentIndex() == 0 and chat.load_button.isEnabled()

    with qtbot.waitSignal(win.chat_client.ready, timeout=120_000):
        qtbot.mouseClick(chat.load_button, Qt.MouseButton.LeftButton)
    assert win.chat_client.checkpoint == chat.picker.currentData()
    tokens: list[str] = []
    win.chat_client.token_received.connect(lambda _i, t: tokens.append(t))
    chat.controls["seed"].setValue(7)
    chat.controls["max_new_tokens"].setValue(12)
    qtbot.keyClicks(chat.input, "What is 2 + 3?")
    with qtbot.waitSignal(win.chat_client.reply_finished, timeout=120_000) as done:
        qtbot.mouseClick(chat.send, Qt.MouseButton.LeftButton)
    assert done.args[1] == "completed"
    assert len(tokens) >= 2 and chat._bubbles[-1].text.text() == "".join(tokens)
    win.close()

    again = open_window(qtbot, chat_workspace)                           # a restart reopens the Chat page
    assert again.stack.currentWidget() is again.chat
    qtbot.waitUntil(lambda: again.chat.picker.count() >= 2, timeout=30_000)
    assert again.chat.load_button.isEnabled()
    again.close()


def test_sampling_controls_start_at_engine_defaults(qtbot, fake_command):
    s = settings.settings()
    for group in ("chat", "chat_ab"):      # a first start: nothing remembered yet
        s.remove(group)
    s.sync()
    command = fake_command("serve_ok")
    view = ChatView(ChatClient(command), command=command)
    qtbot.addWidget(view)
    defaults = asdict(SAMPLING_DEFAULTS)
    for box in (view.sampling, view.ab.a.sampling, view.ab.b.sampling):
        params = box.params()
        assert params == {k: defaults[k] for k in params}
        assert params["seed"] is None and box.controls["seed"].value() == -1
    view.controls["temperature"].setValue(1.3)
    view.controls["max_new_tokens"].setValue(17)
    qtbot.mouseClick(view.sampling.reset, Qt.MouseButton.LeftButton)
    assert view.params()["temperature"] == SAMPLING_DEFAULTS.temperature
    assert view.params()["max_new_tokens"] == SAMPLING_DEFAULTS.max_new_tokens


def test_save_and_reopen_a_chat(qtbot, fake_command, fake_workspace):
    command = fake_command("serve_ok")
    client = ChatClient(command)
    view = ChatView(client, command=command)
    qtbot.addWidget(view)
    assert not view.save_button.isEnabled()                              # nothing to save yet
    with qtbot.waitSignal(client.ready, timeout=10_000):
        view.load_checkpoint("/some/run/checkpoints/step-000004")
    view.system.setPlainText("Be brief.")
    qtbot.keyClicks(view.input, "hi there")
    with qtbot.waitSignal(client.reply_finished, timeout=10_000):
        qtbot.mouseClick(view.send, Qt.MouseButton.LeftButton)
    assert view.save_button.isEnabled()
    qtbot.mouseClick(view.save_button, Qt.MouseButton.LeftButton)
    saved = sorted((fake_workspace / "chats").glob("*.jsonl"))
    assert len(saved) == 1 and "hi-there" in saved[0].name
    lines = [json.loads(ln) for ln in saved[0].read_text(encoding="utf-8").splitlines()]
    assert lines[0]["chat"] == 1 and lines[0]["checkpoint"] == "/some/run/checkpoints/step-000004"
    assert lines[0]["system"] == "Be brief."
    assert [(m["role"], m["content"]) for m in lines[1:]] == [("user", "hi there"), ("assistant", "Hello, world")]
    assert lines[2]["stats"]["tokens_per_s"] == 30.0
    assert saved[0].name in view.file_state.text()

    qtbot.mouseClick(view.new_chat, Qt.MouseButton.LeftButton)
    view.system.setPlainText("")
    assert view.transcript.messages == [] and not view.save_button.isEnabled()
    assert view.open_chat_file(saved[0])
    assert [(m["role"], m["content"]) for m in view.transcript.messages] == [
        ("user", "hi there"), ("assistant", "Hello, world")]
    assert [b.text.text() for b in view._bubbles] == ["hi there", "Hello, world"]
    assert "30.0 tok/s" in view._bubbles[-1].stats.text()
    assert view.system.toPlainText() == "Be brief."
    assert view.transcript.request_messages(view.system.toPlainText())[-1]["content"] == "Hello, world"

    bad = saved[0].with_name("broken.jsonl")
    bad.write_text(saved[0].read_text(encoding="utf-8") + '{"role": "user", "content": \n', encoding="utf-8")
    assert not view.open_chat_file(bad)
    assert "broken.jsonl, line 4" in view.file_state.text()
    assert len(view.transcript.messages) == 2                            # the open chat is left as it was
    client.close()
