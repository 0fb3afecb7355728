"""One pattern for short GUI jobs (scan a data file, read a run's events, split a sentence into tokens).

`Worker(fn, *args)`, connect to `worker.signals`, then `worker.start()` runs `fn(job, *args)` on the
global QThreadPool. The job reports progress and polls a cooperative cancel flag; results come back
through a fixed set of signals. Workers never touch widgets.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal

from engine.config import UserError

PROGRESS_INTERVAL_S = 0.05  # at most ~20 progress signals a second reach the UI thread


class WorkerCancelled(Exception):
    """Raised by `Job.check()` when the job was asked to stop."""


class WorkerSignals(QObject):
    progressed = Signal(int, int)   # done, total
    succeeded = Signal(object)      # the function's return value
    failed = Signal(str)            # a readable message (with the hint for a UserError)
    cancelled = Signal()
    finished = Signal()             # always last, after one of succeeded / failed / cancelled


def _emit(signal: Any, *args: Any) -> None:
    """Emit from the worker thread, dropping the signal if Qt already deleted its source object.

    At application exit Qt deletes every QObject while a short job may still be running: its result then has
    no receiver, and PySide would print "Signal source has been deleted" from the pool's thread.
    """
    try:
        signal.emit(*args)
    except RuntimeError:
        pass


class Job:
    """What a worker function sees: report progress, ask whether to stop."""

    def __init__(self, signals: WorkerSignals, flag: threading.Event):
        self._signals, self._flag = signals, flag
        self._last = 0.0

    def progress(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last >= PROGRESS_INTERVAL_S or (total and done >= total):
            self._last = now
            _emit(self._signals.progressed, int(done), int(total))

    def is_cancelled(self) -> bool:
        return self._flag.is_set()

    def check(self) -> None:
        if self._flag.is_set():
            raise WorkerCancelled


_alive: set[Worker] = set()  # keeps queued workers (and their signal objects) alive until they finish


class _Reaper(QObject):
    """Lives in the UI thread; drops a worker's last reference once its `finished` has been delivered."""

    def release(self) -> None:
        signals = self.sender()
        for w in [w for w in _alive if w.signals is signals]:
            _alive.discard(w)


_REAPER: list[_Reaper] = []


def _reaper():
    if not _REAPER:
        _REAPER.append(_Reaper())
    return _REAPER[0].release


class Worker(QRunnable):
    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any):
        super().__init__()
        self.setAutoDelete(False)
        self.signals = WorkerSignals()
        self._fn, self._args, self._kwargs = fn, args, kwargs
        self._flag = threading.Event()
        self.job = Job(self.signals, self._flag)

    def start(self, pool: QThreadPool | None = None) -> Worker:
        """Queue the job; connect to `signals` before calling this so no signal is missed."""
        _alive.add(self)
        self.signals.finished.connect(_reaper(), Qt.ConnectionType.QueuedConnection)
        (pool or QThreadPool.globalInstance()).start(self)
        return self

    def cancel(self) -> None:
        self._flag.set()

    @property
    def is_cancelled(self) -> bool:
        return self._flag.is_set()

    def run(self) -> None:
        try:
            result = self._fn(self.job, *self._args, **self._kwargs)
        except WorkerCancelled:
            _emit(self.signals.cancelled)
        except UserError as e:
            if self._flag.is_set():
                _emit(self.signals.cancelled)
            else:
                _emit(self.signals.failed, e.message + (f"\nHint: {e.hint}" if e.hint else ""))
        except Exception as e:  # noqa: BLE001 - a worker reports every failure instead of dying silently
            if type(e).__name__ == "Cancelled" or self._flag.is_set():  # engine.data.formats.Cancelled
                _emit(self.signals.cancelled)
            else:
                tb = traceback.format_exc(limit=6)
                _emit(self.signals.failed, f"{type(e).__name__}: {e}\n{tb}" if not isinstance(e, OSError) else str(e))
        else:
            if self._flag.is_set():
                _emit(self.signals.cancelled)
            else:
                _emit(self.signals.succeeded, result)
        finally:
            _emit(self.signals.finished)


