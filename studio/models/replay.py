"""Replay a run's events.jsonl into a RunState off the UI thread, then hand the result to the RunState a monitor
already shows. Parsing and applying 100k step events costs seconds of Python; done on the UI thread, even in
slices, it stalled the event loop for 0.4-2.5 s. Here a worker builds a private RunState (numpy series and all)
and the UI thread only swaps its contents in: O(1) however long the run. Knows nothing about widgets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from PySide6.QtCore import QCoreApplication, SignalInstance

from engine.protocol import ProtocolError, parse_event
from studio.models.run_state import RunState

CHUNK = 1 << 20         # bytes read per pass; events are applied as they are parsed, never all held at once
WORK_S = 0.002          # parse for this long, then pause: the UI thread never waits longer for the GIL
YIELD_S = 0.0005        # the pause (a sleep(0) is often re-won by this thread before the UI thread wakes)
BATCH = 16              # events applied at a time: short-lived, so they are freed young and never make the
                        # collector walk the whole heap with the GIL held (a 90-120 ms stall of the UI thread)


@dataclass
class Replayed:
    state: RunState     # a private RunState holding the whole history; adopt() moves its contents over
    offset: int         # bytes of whole lines read: following the file carries on from here
    pid: int | None     # the engine's pid from the last hello (is it still running?), None without one


def replay_file(job, path: str, name: str = "", run_dir: str = "") -> Replayed:
    """Worker: parse and apply every whole line of `path` to a new RunState. A torn last line (an engine still
    writing, or one that crashed mid-line) is left for the follower: `offset` stops before it."""
    state = RunState(name)
    state.run_dir = run_dir
    pid: int | None = None
    offset = 0
    with open(path, "rb") as f:
        total = max(1, f.seek(0, 2))
        f.seek(0)
        tail = b""
        batch = []
        since = time.perf_counter()
        while chunk := f.read(CHUNK):
            data = tail + chunk
            cut = data.rfind(b"\n") + 1
            tail = data[cut:]
            offset += cut
            for line in data[:cut].splitlines():
                try:
                    ev = parse_event(line.decode("utf-8", errors="replace"))
                except ProtocolError:
                    continue
                if ev.event == "hello":
                    pid = int(ev.get("pid") or 0)
                batch.append(ev)
                if len(batch) == BATCH:
                    state.apply_many(batch)      # nobody listens to this state's signals yet
                    batch.clear()
                    if time.perf_counter() - since > WORK_S:
                        # Hand the GIL to the UI thread if it waits for it: pure-Python parsing would otherwise
                        # take it for 5 ms at a time (the interpreter's switch interval), halving the UI's speed.
                        time.sleep(YIELD_S)
                        job.check()
                        since = time.perf_counter()
            state.apply_many(batch)
            batch.clear()
            job.progress(offset, total)
    state.moveToThread(QCoreApplication.instance().thread())   # its contents go to the UI thread's state
    return Replayed(state, offset, pid)


def adopt(state: RunState, replayed: RunState) -> None:
    """Give `state` (which the UI shows, still empty) everything `replayed` holds, and announce it as a replay
    does (`reloaded`, then `status_changed`). The attributes are taken over whole, so RunState's own fields, old
    and new, come along without being listed here."""
    revision = state.revision
    for key, value in vars(replayed).items():
        if not isinstance(value, SignalInstance):   # PySide caches bound signals here: keep the UI's connected ones
            setattr(state, key, value)
    state.revision = revision + replayed.revision + 1      # plots that drew the empty state redraw
    state.reloaded.emit()
    state.status_changed.emit(state.status)
