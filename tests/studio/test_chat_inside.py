"""Chat → Look inside, as a user reaches it: after a real reply, the token view colours each reply token with the
model's probability and lists five alternatives, and the attention heatmap follows the chosen layer and head."""

from __future__ import annotations

import numpy as np
import pytest
from chat_checkpoints import click_nav
from PySide6.QtCore import Qt

from studio.engine_cmd import EngineCommand
from studio.views.attention_view import attention_matrix, tick_labels
from studio.views.main_window import MainWindow
from studio.views.token_view import probability_colour, tokens_html


def test_probability_colours_run_from_red_to_green():
    low, high = probability_colour(0.0), probability_colour(1.0)
    assert low != high
    assert int(low[1:3], 16) > int(low[3:5], 16)        # red dominates at p = 0
    assert int(high[3:5], 16) > int(high[1:3], 16)      # green dominates at p = 1


def test_only_reply_tokens_are_links_and_whitespace_is_visible():
    tokens = [{"id": 1, "text": "Hi there", "reply": False},
              {"id": 2, "text": " ok\n", "reply": True, "prob": 0.5, "top": []}]
    out = tokens_html(tokens)
    assert out.count('href="tok:') == 1 and 'href="tok:1"' in out
    assert "·ok↵" in out and "Hi·there" in out


def test_attention_rows_are_ragged_with_empty_future_cells():
    m = attention_matrix([[1.0], [0.25, 0.75]], 2)
    assert m.shape == (2, 2) and np.isnan(m[0, 1]) and m[1, 1] == 0.75
    assert len(tick_labels([str(i) for i in range(200)], limit=40)) <= 40


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_look_inside_a_real_reply(qtbot, chat_workspace, tmp_path):
    win = MainWindow(EngineCommand(workspace=chat_workspace), run_doctor=False)
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    click_nav(qtbot, win, "Chat")
    chat = win.chat
    qtbot.waitUntil(lambda: chat.picker.count() >= 1, timeout=30_000)
    with qtbot.waitSignal(win.chat_client.ready, timeout=120_000):
        qtbot.mouseClick(chat.load_button, Qt.MouseButton.LeftButton)
    chat.controls["seed"].setValue(3)
    chat.controls["max_new_tokens"].setValue(10)
    qtbot.keyClicks(chat.input, "What is 2 + 3?")
    with qtbot.waitSignal(win.chat_client.reply_finished, timeout=120_000):
        qtbot.mouseClick(chat.send, Qt.MouseButton.LeftButton)

    with qtbot.waitSignal(win.chat_client.inspected, timeout=60_000) as looked:
        qtbot.mouseClick(chat.look_inside, Qt.MouseButton.LeftButton)
    data = looked.args[1]
    reply = [t for t in data["tokens"] if t["reply"]]
    assert chat.inside.isVisible() and reply and len(data["attention"]) == len(reply)
    table = chat.inside.tokens.table
    assert table.rowCount() == 5                                  # the five likeliest alternatives of one token
    assert "probability" in chat.inside.tokens.detail.text()
    win.grab().save(str(tmp_path / "chat-inside.png"))

    attention = chat.inside.attention
    chat.inside.tabs.setCurrentIndex(1)
    assert attention.matrix.shape[0] == len(reply)
    with qtbot.waitSignal(win.chat_client.inspected, timeout=60_000) as again:
        attention.head.setCurrentIndex(2)                           # head 1
    assert again.args[1]["head"] == 1 and again.args[1]["layer"] == attention.layer.value()
    win.close()
