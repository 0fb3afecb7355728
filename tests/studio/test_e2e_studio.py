"""End to end with the real engine: click through the wizard (built-in data, tiny preset), train a few steps,
watch the loss plot fill, find the checkpoint in Runs, load it in Chat and receive streamed tokens."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from studio import settings
from studio.engine_cmd import EngineCommand
from studio.views.main_window import MainWindow

FAST = {"run.max_steps": 6, "run.eval_every": 3, "run.log_every": 1, "run.eval_batches": 2,
        "run.task_eval_items": 0, "run.sample_tokens": 8, "run.batch_size": 4, "data.seq_len": 64,
        "run.checkpoint_every": 0, "optim.warmup_steps": 2}


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_wizard_train_runs_chat(qtbot, workspace):
    settings.settings().remove("wizard/last_document")   # a first start: not the data an earlier test's window chose
    win = MainWindow(EngineCommand(workspace=workspace))
    win.close_prompt = lambda *_: "stop"
    qtbot.addWidget(win)
    win.show()
    wiz = win.wizard
    qtbot.waitUntil(lambda: win.doctor.report is not None, timeout=60_000)

    assert wiz.data.builtin.isChecked()                  # 1 · Data: the built-in dataset is preselected
    qtbot.mouseClick(wiz.next, Qt.MouseButton.LeftButton)
    assert wiz.index == 1 and wiz.tokenizer.auto.isChecked()
    qtbot.mouseClick(wiz.next, Qt.MouseButton.LeftButton)
    assert wiz.index == 2                                # 3 · Stage: tiny preset, a few fast steps
    assert wiz.stage.top.fields["model.preset"].value() == "tiny"
    fields = {k: f for g in wiz.stage.groups.values() for k, f in g.fields.items()}
    for key, value in FAST.items():
        fields[key].set_value(value)
    lr = fields["optim.lr"].widget
    lr.clear()
    qtbot.keyClicks(lr, "2e-3")
    assert wiz.next.isEnabled(), wiz.why.text()
    assert "1,0" in wiz.stage.estimate.labels["params"].text()   # ~1.0M parameters for tiny
    qtbot.mouseClick(wiz.next, Qt.MouseButton.LeftButton)
    assert wiz.index == 3
    win.wizard.hardware.fields.fields["hardware.device"].set_value("cpu")
    qtbot.mouseClick(wiz.next, Qt.MouseButton.LeftButton)
    assert wiz.index == 4
    qtbot.waitUntil(lambda: wiz.review.launch.isEnabled(), timeout=5000)
    assert "max_steps: 6" in wiz.review.text()
    qtbot.mouseClick(wiz.review.launch, Qt.MouseButton.LeftButton)

    assert win.stack.currentWidget() is win.monitors     # the monitor opens when the run starts
    view = win.monitors.current()
    qtbot.waitUntil(lambda: view.plots.point_count("loss") > 0, timeout=240_000)
    qtbot.waitUntil(lambda: view.state.finished, timeout=240_000)
    assert view.state.status == "completed", (view.state.error, view.state.stderr_tail)
    assert view.plots.point_count("loss") >= 3
    assert view.plots.point_count("val_loss") >= 1
    assert view.state.checkpoints and view.samples.count() > 0

    win.show_page(2)                                     # Runs: the run and its checkpoint

    def scanned():
        row = win.table.find(view.state.run_dir)
        return row >= 0 and win.table.run_at(row).latest_ckpt is not None
    qtbot.waitUntil(scanned, timeout=20_000)
    run = win.table.run_at(win.table.find(view.state.run_dir))
    assert win.table.status_of(run) == "completed" and run.latest_ckpt
    assert win.runs.select_path(run.path)
    qtbot.mouseClick(win.runs.chat_latest, Qt.MouseButton.LeftButton)

    chat = win.chat                                      # Chat: load the checkpoint, stream a reply
    assert win.stack.currentWidget() is chat
    qtbot.waitUntil(lambda: win.chat_client.is_ready, timeout=90_000)
    tokens = []
    win.chat_client.token_received.connect(lambda _i, t: tokens.append(t))
    chat.controls["temperature"].setValue(1.0)
    chat.controls["seed"].setValue(1)
    chat.controls["max_new_tokens"].setValue(12)
    qtbot.keyClicks(chat.input, "What is 2 + 3?")
    with qtbot.waitSignal(win.chat_client.reply_finished, timeout=90_000) as done:
        qtbot.mouseClick(chat.send, Qt.MouseButton.LeftButton)
    assert done.args[1] == "completed"
    assert tokens, "the reply streamed token events"
    reply = chat.transcript.messages[-1]
    assert reply["role"] == "assistant" and reply["content"] == "".join(tokens)
    assert "tok/s" in chat._bubbles[-1].stats.text() or "tokens" in chat._bubbles[-1].stats.text()
    win.chat_client.close()
