"""The status bar's "N runs training" drops as soon as a run reports its end (its `done` event), not only when its
engine process has finished exiting, which can take seconds (seen in a walkthrough: "1 run training" after the
Monitor said completed)."""

from __future__ import annotations

from studio.views.main_window import MainWindow


def test_a_run_that_reported_done_is_no_longer_counted_while_its_process_exits(qtbot, fake_command):
    win = MainWindow(fake_command("linger"), run_doctor=False)
    qtbot.addWidget(win)
    session = win.manager.launch("stage:\n  name: pretrain\n")
    qtbot.waitUntil(lambda: session.state.finished, timeout=20_000)
    assert session.live, "the fake engine lingers 3 s after done: the test needs its process still running"
    qtbot.waitUntil(lambda: win.jobs_label.text() == "no runs training", timeout=1_000)
    assert session.live and win.manager.running_count() == 1  # closing the window still waits for the process
    qtbot.waitUntil(lambda: not session.live, timeout=10_000)
    assert win.jobs_label.text() == "no runs training"
