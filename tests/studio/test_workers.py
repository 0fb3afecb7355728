"""The worker pattern: results, progress, failures and cooperative cancel come back as signals."""

from __future__ import annotations

import time

from studio import workers


def test_success_and_progress(qtbot):
    def job(j, n):
        for i in range(n):
            j.progress(i + 1, n)
        return n * 2
    w = workers.Worker(job, 5)
    progress = []
    w.signals.progressed.connect(lambda d, t: progress.append((d, t)))
    with qtbot.waitSignal(w.signals.succeeded, timeout=5000) as blocker:
        w.start()
    assert blocker.args == [10] and progress[-1] == (5, 5)


def test_failure_message(qtbot):
    def job(j):
        raise ValueError("nope")
    w = workers.Worker(job)
    with qtbot.waitSignal(w.signals.failed, timeout=5000) as blocker:
        w.start()
    assert "nope" in blocker.args[0]


def test_cancel(qtbot):
    def job(j):
        while True:
            j.check()
            time.sleep(0.01)
    w = workers.Worker(job)
    with qtbot.waitSignal(w.signals.cancelled, timeout=5000):
        w.start()
        time.sleep(0.05)
        w.cancel()


def test_a_job_finishing_after_its_signals_were_deleted_is_dropped_quietly(qtbot, capfd):
    """At application exit Qt deletes every QObject while a short job may still run: its result has no one
    to go to, and the worker thread must not print a RuntimeError traceback ("Signal source has been deleted")."""
    import threading

    import shiboken6
    from PySide6.QtCore import QThreadPool

    release = threading.Event()

    def job(j):
        release.wait(5)
        j.progress(1, 1)
        return 1

    pool = QThreadPool()
    w = workers.Worker(job)
    w.start(pool)
    shiboken6.delete(w.signals)          # what the end of the studio does to the worker's signal object
    release.set()
    assert pool.waitForDone(5000)
    err = capfd.readouterr().err
    assert "Signal source has been deleted" not in err and "Traceback" not in err
