"""Each failure path through the whole window: the run is marked failed, the monitor shows the message, hint,
traceback and stderr tail, and the studio keeps working (a next run launches and completes)."""

from __future__ import annotations

import pytest

from studio.views.main_window import MainWindow

CASES = [
    ("crash", "crashed", "Segmentation fault"),
    ("exit_nonzero", "exited with code 3", "something broke deep inside"),
    ("garbage", "not a protocol event", "Loading weights"),
    ("error", "loss is NaN", "Traceback"),
]


@pytest.mark.parametrize("mode, message, detail", CASES)
def test_failed_run_is_shown_and_studio_keeps_working(qtbot, fake_command, mode, message, detail):
    win = MainWindow(fake_command(mode), run_doctor=False)
    qtbot.addWidget(win)
    win.show()
    session = win.manager.launch("stage:\n  name: pretrain\n")
    view = win.monitors.current()
    qtbot.waitUntil(lambda: session.state.status == "failed" and not session.live, timeout=20_000)
    assert view.errors.isVisible()
    assert message in view.errors.message.text()
    assert detail in view.errors.details.toPlainText() or detail in view.errors.message.text()
    if mode == "error":
        assert "lower optim.lr" in view.errors.hint.text()
    assert view.status.text() == "failed"
    assert not view.stop.isEnabled()
    assert win.manager.running_count() == 0

    win.command.prefix[-1] = "ok"                      # the studio keeps working: the next run completes
    ok = win.manager.launch("stage:\n  name: pretrain\n")
    qtbot.waitUntil(lambda: ok.state.finished and not ok.live, timeout=20_000)
    assert ok.state.status == "completed"
    assert win.monitors.tabs.count() == 2
    assert win.monitors.current().plots.point_count("loss") == 4 or win.monitors.current().plots.refresh() is None


def test_pause_resume_save_stop_buttons(qtbot, fake_command):
    win = MainWindow(fake_command("slow"), run_doctor=False)
    qtbot.addWidget(win)
    session = win.manager.launch("stage:\n  name: pretrain\n")
    view = win.monitors.current()
    qtbot.waitUntil(lambda: view.pause.isEnabled(), timeout=10_000)
    view.pause.click()
    qtbot.waitUntil(lambda: session.state.status == "paused", timeout=10_000)
    assert view.resume.isEnabled()
    view.resume.click()
    qtbot.waitUntil(lambda: session.state.status == "running", timeout=10_000)
    view.save.click()
    qtbot.waitUntil(lambda: any(c[2] == "requested" for c in session.state.checkpoints), timeout=10_000)
    view.stop.click()
    qtbot.waitUntil(lambda: session.state.status == "stopped" and not session.live, timeout=15_000)
    assert view.chat.isEnabled()
    assert "step" in view.progress_text.text()
