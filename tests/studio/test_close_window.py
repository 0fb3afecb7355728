"""Closing the window while a run trains asks: stop and save (sends stop, waits for done, then closes),
keep running in background (detaches), or cancel (nothing happens)."""

from __future__ import annotations

import os
import signal

from studio.views.main_window import MainWindow


def start_slow(qtbot, fake_command, answer):
    win = MainWindow(fake_command("slow"), run_doctor=False)
    qtbot.addWidget(win)
    win.show()
    asked = []
    win.close_prompt = lambda _w, n: asked.append(n) or answer
    session = win.manager.launch("stage:\n  name: pretrain\n")
    qtbot.waitUntil(lambda: session.state.step > 0, timeout=10_000)
    return win, session, asked


def test_cancel_keeps_window_and_run(qtbot, fake_command):
    win, session, asked = start_slow(qtbot, fake_command, "cancel")
    assert not win.close()
    assert asked == [1] and win.isVisible() and session.live
    session.client.kill()
    qtbot.waitUntil(lambda: not session.live, timeout=10_000)


def test_stop_and_save_waits_for_done_then_closes(qtbot, fake_command):
    win, session, asked = start_slow(qtbot, fake_command, "stop")
    assert not win.close()                       # not yet: the run is saving
    assert session.state.status == "stopping"
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=15_000)
    assert session.state.status == "stopped"
    assert any(c[2] == "stop" for c in session.state.checkpoints)


def test_keep_running_detaches(qtbot, fake_command):
    win, session, asked = start_slow(qtbot, fake_command, "keep")
    pid = session.client.pid
    assert win.close()
    assert win.detached == 1
    os.kill(pid, 0)                              # still alive after the window closed
    os.kill(pid, signal.SIGKILL)
