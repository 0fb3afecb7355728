"""Closing the main window ends every child process it started (a chat server, a doctor report) before the window
is gone: each is asked to stop, given a bounded moment, then killed, so Qt never destroys a QProcess whose process
still runs ("QProcess: Destroyed while process is still running")."""

from __future__ import annotations

import time

import psutil
import pytest
import shiboken6
from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import QApplication

from studio.views.main_window import MainWindow


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("mode", ["serve_ok", "serve_stubborn"])
def test_closing_after_a_chat_ends_the_server_within_a_bounded_time(qtbot, qtlog, fake_command, mode):
    win = MainWindow(fake_command(mode), run_doctor=False)
    win.close_grace_ms = 1500
    win.show()
    with qtbot.waitSignal(win.chat_client.ready, timeout=20_000):
        win.chat_client.load("fake-checkpoint")
    pid = win.chat_client._proc.pid
    assert alive(pid)
    t0 = time.perf_counter()
    assert win.close()
    took = time.perf_counter() - t0
    assert not alive(pid), f"{mode}: the chat server outlived the window"
    assert took < 1.5 + 1.0 + 2.0, took                  # the grace, the kill's wait, and slack for a loaded machine
    QThreadPool.globalInstance().waitForDone(10_000)     # the window's short jobs (run scans) end first
    shiboken6.delete(win)                                # what the end of the studio does to every QObject
    QApplication.processEvents()
    destroyed = [r.message for r in qtlog.records if "Destroyed while process" in r.message]
    assert destroyed == []


def test_closing_during_the_doctor_report_ends_it(qtbot, fake_command):
    win = MainWindow(fake_command("serve_stubborn"), run_doctor=True)   # the "report" never finishes
    win.show()
    qtbot.waitUntil(lambda: win.doctor._proc is not None and win.doctor._proc.pid > 0, timeout=10_000)
    pid = win.doctor._proc.pid
    t0 = time.perf_counter()
    assert win.close()
    assert not alive(pid) and time.perf_counter() - t0 < 1.0 + 2.0   # killed at once: a report saves nothing
