"""FileTail and following a run that an engine outside the studio owns: each line is seen once and whole, even
when the file grows while the run is first loaded (the old follow read the size and the file in two steps and
applied events twice); stop goes through the control folder; an engine that dies is shown interrupted."""

from __future__ import annotations

import json
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


def followed_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    lock = FileLock(str(run / "run.lock"), thread_local=False)
    lock.acquire()
    lines = [make_event("hello", pid=1, run_dir=str(run), device="cpu"),
             make_event("step", step=1, total_steps=9, loss=2.0, lr=0.1)]
    (run / "events.jsonl").write_text("".join(encode(e) + "\n" for e in lines), encoding="utf-8")
    return run, lock


def test_stop_of_a_followed_run_goes_through_the_control_folder_and_gives_up_after_grace(qtbot, tmp_path):
    run, lock = followed_run(tmp_path)
    session = RunSession(RunState("r"))
    session.load(str(run))
    qtbot.waitUntil(lambda: session.following, timeout=10_000)
    assert session.live and session.controllable and session.state.status == "running"
    with qtbot.waitSignal(session.ended, timeout=10_000):
        session.stop(grace_ms=300)                      # nobody reads the folder: the studio must not wait forever
        assert session.state.status == "stopping"
        assert [json.loads(p.read_text()) for p in (run / "control").glob("*.json")] == [{"cmd": "stop"}]
    assert not session.live and "did not act on stop" in session.state.logs[-1][1]
    lock.release()


def test_a_followed_engine_that_dies_without_done_is_interrupted(qtbot, tmp_path):
    run, lock = followed_run(tmp_path)
    session = RunSession(RunState("r"))
    session.load(str(run))
    qtbot.waitUntil(lambda: session.following, timeout=10_000)
    with qtbot.waitSignal(session.ended, timeout=10_000):
        lock.release()                                  # what the OS does when the engine is killed
    assert session.state.status == "interrupted" and not session.live


def test_runs_table_tells_a_live_run_by_its_lock(tmp_path):
    from studio.models.run_scan import scan_run
    run, lock = followed_run(tmp_path)
    assert scan_run(run).status == "running"
    lock.release()
    assert scan_run(run).status == "interrupted"
    (run / "run.lock").write_text("")  # a lock file left behind (e.g. after a crash) means nothing by itself
    assert scan_run(run).status == "interrupted"
    assert scan_run(run).status == "interrupted"  # and probing it does not leave it held
