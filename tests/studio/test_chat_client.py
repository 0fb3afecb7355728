"""ChatClient and ChatView against a fake server: streamed tokens fill the bubble, stats show, and a checkpoint
that fails to load is reported without taking the studio down."""

from __future__ import annotations

from studio.chat_client import ChatClient
from studio.views.chat_view import ChatView


def test_stream_into_bubbles(qtbot, fake_command):
    client = ChatClient(fake_command("serve_ok"))
    view = ChatView(client)
    qtbot.addWidget(view)
    with qtbot.waitSignal(client.ready, timeout=10_000):
        view.load_checkpoint("/some/run/checkpoints/step-000004")
    view.input.setPlainText("hi")
    with qtbot.waitSignal(client.reply_finished, timeout=10_000):
        view.send.click()
    assert [m["role"] for m in view.transcript.messages] == ["user", "assistant"]
    assert view._bubbles[-1].text.text() == "Hello, world"
    assert "30.0 tok/s" in view._bubbles[-1].stats.text()
    view.new_chat.click()
    assert view.transcript.messages == []
    client.close()


def test_load_failure_is_reported(qtbot, fake_command):
    client = ChatClient(fake_command("serve_fail"))
    view = ChatView(client)
    qtbot.addWidget(view)
    with qtbot.waitSignal(client.failed, timeout=10_000):
        view.load_checkpoint("/nope")
    assert "could not be loaded" in view.server_state.text()
    assert not view.send.isEnabled()
