"""A/B chat end to end with two real tiny checkpoints: both sides stream a reply to the same prompt, the user's
choices land in <workspace>/data/preferences/ab-YYYYMMDD.jsonl in the DPO format (a tie marked), the
conversation continues from the preferred reply, and the Data page lists the file with a preview."""

from __future__ import annotations

import json

import pytest
from chat_checkpoints import RUNS, checkpoint_of, click_nav
from PySide6.QtCore import Qt

from engine.data import formats
from studio.engine_cmd import EngineCommand
from studio.models.preferences import preference_file
from studio.views.main_window import MainWindow

SHOT = "/tmp/ab_chat.png"


def ask_both(qtbot, ab, prompt: str) -> dict[str, list[str]]:
    """Type a prompt, send it, wait until both sides finished; the tokens each side streamed."""
    tokens: dict[str, list[str]] = {"A": [], "B": []}
    conns = [(side, side.client.token_received.connect(lambda _i, t, n=side.name: tokens[n].append(t)))
             for side in (ab.a, ab.b)]
    qtbot.keyClicks(ab.input, prompt)
    with qtbot.waitSignals([ab.a.reply_finished, ab.b.reply_finished], timeout=120_000):
        qtbot.mouseClick(ab.send, Qt.MouseButton.LeftButton)
        assert ab.a.busy and ab.b.busy and ab.stop.isEnabled()    # both were asked at once
    for side, conn in conns:
        side.client.token_received.disconnect(conn)
    return tokens


@pytest.mark.slow
@pytest.mark.timeout(500)
def test_ab_compare_records_preferences(qtbot, chat_workspace):
    ckpt_a, ckpt_b = (checkpoint_of(chat_workspace, r) for r in RUNS)
    win = MainWindow(EngineCommand(workspace=chat_workspace), run_doctor=False)
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    click_nav(qtbot, win, "Chat")
    chat = win.chat
    tabs = chat.tabs.tabBar()
    qtbot.mouseClick(tabs, Qt.MouseButton.LeftButton, pos=tabs.tabRect(1).center())
    ab = chat.ab
    assert chat.tabs.currentWidget() is ab and not ab.send.isEnabled()
    qtbot.waitUntil(lambda: ab.a.picker.count() >= 2 and ab.b.picker.count() >= 2, timeout=30_000)
    ab.a.choose(ckpt_a)
    ab.b.choose(ckpt_b)
    with qtbot.waitSignals([ab.a.client.ready, ab.b.client.ready], timeout=180_000):
        qtbot.mouseClick(ab.a.load_button, Qt.MouseButton.LeftButton)
        qtbot.mouseClick(ab.b.load_button, Qt.MouseButton.LeftButton)
    assert (ab.a.client.checkpoint, ab.b.client.checkpoint) == (ckpt_a, ckpt_b)
    for side, temp in ((ab.a, 0.8), (ab.b, 1.2)):
        side.sampling.controls["seed"].setValue(3)
        side.sampling.controls["max_new_tokens"].setValue(10)
        side.sampling.controls["temperature"].setValue(temp)
    assert ab.send.isEnabled() and not ab.pick_a.isEnabled()

    tokens = ask_both(qtbot, ab, "What is 2 + 3?")
    reply_a, reply_b = ab.a.last_reply()["content"], ab.b.last_reply()["content"]
    assert tokens["A"] and tokens["B"]
    assert "".join(tokens["A"]) == reply_a and "".join(tokens["B"]) == reply_b
    assert ab.pick_a.isEnabled() and ab.pick_b.isEnabled() and ab.pick_tie.isEnabled()
    win.grab().save(SHOT)
    qtbot.mouseClick(ab.pick_b, Qt.MouseButton.LeftButton)
    assert not ab.pick_b.isEnabled()                                       # one choice per turn

    path = preference_file(chat_workspace)
    assert path.parent == chat_workspace / "data" / "preferences" and path.name.startswith("ab-")
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert first["prompt"] == "What is 2 + 3?"
    assert (first["chosen"], first["rejected"]) == (reply_b, reply_a)
    assert first["tie"] is False and first["winner"] == "b"
    assert first["messages"] == [{"role": "user", "content": "What is 2 + 3?"}]
    assert first["chosen_source"]["checkpoint"] == ckpt_b and first["rejected_source"]["checkpoint"] == ckpt_a
    assert first["a"]["params"]["temperature"] == 0.8 and first["b"]["params"]["temperature"] == 1.2
    assert first["a"]["stats"]["completion_tokens"] >= 1
    assert "preferred" in ab.b.pane.bubbles[-1].stats.text()

    ask_both(qtbot, ab, "And 4 + 4?")                                     # the chat continues from B's reply
    second_a, second_b = ab.a.last_reply()["content"], ab.b.last_reply()["content"]
    qtbot.mouseClick(ab.pick_tie, Qt.MouseButton.LeftButton)
    lines = [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 2 and lines[0] == first                           # appended, never rewritten
    second = lines[1]
    assert second["tie"] is True and second["winner"] == "tie"
    assert (second["chosen"], second["rejected"]) == (second_a, second_b)
    context = [{"role": "user", "content": "What is 2 + 3?"}, {"role": "assistant", "content": reply_b},
               {"role": "user", "content": "And 4 + 4?"}]
    assert second["messages"] == context and second["prompt"] == context  # DPO sees what the replies answered
    assert "Tie recorded" in ab.verdict.text()

    assert formats.detect_format(path) == "preference"                    # the file the DPO stage reads
    report = formats.validate_file(path, kind="preference")
    assert (report.records, report.bad_count) == (2, 0)

    click_nav(qtbot, win, "Train")                                        # the Data page lists the file
    data = win.wizard.data
    prefs = data.preferences
    qtbot.waitUntil(lambda: prefs.list.count() == 1, timeout=5_000)
    item = prefs.list.item(0)
    assert item.text().startswith(path.name)
    with qtbot.waitSignal(prefs.preview_ready, timeout=30_000):
        qtbot.mouseClick(prefs.list.viewport(), Qt.MouseButton.LeftButton,
                         pos=prefs.list.visualItemRect(item).center())
    assert "2 records, 1 tie" in data.preview.toPlainText()
    assert "chosen" in data.preview.toPlainText() and "What is 2 + 3?" in data.preview.toPlainText()
    qtbot.mouseClick(prefs.use, Qt.MouseButton.LeftButton)
    assert str(path) in data.sources()
    win.grab().save("/tmp/ab_data_page.png")
    win.close()


def test_unpicked_turn_is_skipped_and_new_comparison_starts_over(qtbot, fake_command, fake_workspace):
    """Against the fake server: a prompt sent without choosing skips the previous turn (marked, and left out of the
    conversation the next pair records); New comparison clears both sides and the conversation."""
    from studio.views.chat_ab import ABChatView
    items = [("fake · step-000004", "/r/fake/checkpoints/step-000004")]
    ab = ABChatView(fake_command("serve_ok"), checkpoints=lambda: items)
    qtbot.addWidget(ab)
    ab.refresh_checkpoints()
    with qtbot.waitSignals([ab.a.client.ready, ab.b.client.ready], timeout=20_000):
        qtbot.mouseClick(ab.a.load_button, Qt.MouseButton.LeftButton)
        qtbot.mouseClick(ab.b.load_button, Qt.MouseButton.LeftButton)
    ask_both(qtbot, ab, "first")
    assert ab.awaiting_choice
    ask_both(qtbot, ab, "second")
    assert ab.a.transcript.messages[1]["verdict"] == "skipped" == ab.b.transcript.messages[1]["verdict"]
    record = {}
    ab.preference_saved.connect(lambda _p, r: record.update(r))
    qtbot.mouseClick(ab.pick_a, Qt.MouseButton.LeftButton)
    assert record["prompt"] == "second" and record["messages"] == [{"role": "user", "content": "second"}]
    assert record["chosen"] == "Hello, world" and record["a"]["checkpoint"] == items[0][1]
    assert (fake_workspace / "data" / "preferences").is_dir()
    qtbot.mouseClick(ab.new_chat, Qt.MouseButton.LeftButton)
    assert ab.history == [] and ab.a.transcript.messages == [] and ab.b.pane.bubbles == []
    assert ab.send.isEnabled() and not ab.pick_a.isEnabled()
    ab.close_servers()                  # as the main window does on close: no server outlives its view
    ab.close_servers()
