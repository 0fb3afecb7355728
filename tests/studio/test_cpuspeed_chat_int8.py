"""The Chat page's "Int8 (CPU)" box: a checkpoint loaded with it ticked runs `serve --quantize int8 --device cpu`,
says so once ready, streams a reply, and the choice is remembered; unticked, the server is the plain fp32 one."""

from __future__ import annotations

import pytest
from chat_checkpoints import checkpoint_of
from PySide6.QtCore import Qt

from studio import settings
from studio.chat_client import ChatClient
from studio.engine_cmd import EngineCommand
from studio.views.chat_view import ChatView


def test_serve_command_carries_int8_only_when_asked(tmp_path):
    cmd = EngineCommand(workspace=tmp_path)
    assert cmd.serve("ck", int8=True)[-6:] == ["ck", "--stdio", "--quantize", "int8", "--device", "cpu"]
    assert "--quantize" not in cmd.serve("ck")


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_int8_box_loads_a_quantized_server_that_replies(qtbot, chat_workspace, tmp_path):
    client = ChatClient(EngineCommand(workspace=chat_workspace))
    view = ChatView(client)
    qtbot.addWidget(view)
    view.resize(1100, 700)
    view.show()
    view.int8.setChecked(True)
    with qtbot.waitSignal(client.ready, timeout=120_000):
        view.load_checkpoint(checkpoint_of(chat_workspace, "tiny-a"))
    assert client.int8 and "int8 weights" in view.server_state.text()
    view.controls["max_new_tokens"].setValue(6)
    qtbot.keyClicks(view.input, "hello")
    with qtbot.waitSignal(client.reply_finished, timeout=120_000) as done:
        qtbot.mouseClick(view.send, Qt.MouseButton.LeftButton)
    assert done.args[1] == "completed"
    view.grab().save(str(tmp_path / "chat_int8.png"))
    view.save_settings()
    assert settings.value("chat/int8", False, bool) is True
    client.close()
