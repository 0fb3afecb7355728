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
