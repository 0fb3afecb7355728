"""FileTail and following a growing events.jsonl: a line is seen once, whole, even when the file grows while
the run is first loaded (the old follow read the size and the file in two steps and applied events twice)."""

from __future__ import annotations

import threading
import time

from filelock import FileLock

from engine.protocol import encode, make_event
from studio.file_tail import FileTail
from studio.models.run_state import RunState
from studio.run_session import RunSession


def test_lines_are_returned_whole_and_once(tmp_path):
    path = tmp_path / "f.txt"
    tail = FileTail(path)
    assert tail.read_lines() == []                      # no file yet
    path.write_bytes(b"one\ntw")
    assert tail.read_lines() == [b"one"]
    assert tail.read_lines() == []                      # "tw" is not finished
    with open(path, "ab") as f:
        f.write(b"o\r\nthree\n")
    assert tail.read_lines() == [b"two", b"three"]
    assert tail.pos == path.stat().st_size


def test_a_line_longer_than_a_chunk_does_not_stall(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"x" * 100 + b"\nend\n")
    tail = FileTail(path)
    assert b"".join(tail.read_lines(max_bytes=64)) == b"x" * 64
    assert tail.read_all_lines() == [b"x" * 36, b"end"]


def test_events_skip_torn_lines(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(encode(make_event("step", step=1)) + "\n{\"v\": 1, \"ev\n" + encode(make_event("paused")) + "\n")
    assert [e.event for e in FileTail(path).read_events(everything=True)] == ["step", "paused"]


def test_following_a_growing_run_applies_every_step_exactly_once(qtbot, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    lock = FileLock(str(run / "run.lock"), thread_local=False)
    lock.acquire()                                      # an engine owns the run: it is live
    events = run / "events.jsonl"
    total = 4000
    with open(events, "w", encoding="utf-8") as f:
        f.write(encode(make_event("hello", pid=1, run_dir=str(run), device="cpu")) + "\n")
        for step in range(1, 1500):
            f.write(encode(make_event("step", step=step, total_steps=total, loss=1.0 / step)) + "\n")

    def writer():  # keeps appending while the studio loads and then follows, sometimes in torn pieces
        with open(events, "a", encoding="utf-8") as f:
            for step in range(1500, total + 1):
                line = encode(make_event("step", step=step, total_steps=total, loss=1.0 / step)) + "\n"
                if step % 7 == 0:
                    f.write(line[:10])
                    f.flush()
                    time.sleep(0.0005)
                    f.write(line[10:])
                else:
                    f.write(line)
                f.flush()
                if step % 50 == 0:
                    time.sleep(0.002)
    thread = threading.Thread(target=writer)
    session = RunSession(RunState("r"))
    thread.start()
    session.load(str(run))
    thread.join()
    qtbot.waitUntil(lambda: session.state.step == total, timeout=30_000)
    assert session.following
    xs = session.state.series["loss"].x.tolist()
    assert xs == list(range(1, total + 1)), "every step once, in order"

    with open(events, "a", encoding="utf-8") as f:
        f.write(encode(make_event("done", status="completed", summary={"steps": total})) + "\n")
    lock.release()
    qtbot.waitUntil(lambda: session.state.status == "completed" and not session.following, timeout=10_000)
