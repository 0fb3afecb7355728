"""engine.commands and the run folder's control channel: commands queued from stdin and from command files, in
order; what follows a pause stays queued for the pause (a batch `pause, save, resume` used to hang paused)."""

from __future__ import annotations

import io
import json
import time

from engine.commands import CommandQueue
from engine.control import take_commands
from engine.protocol import write_control_command


def test_poll_stops_at_a_pause_and_leaves_the_rest_for_it():
    q = CommandQueue()
    for c in ("save", "pause", "save", "resume"):
        q.put(c)
    assert [c["cmd"] for c in q.poll()] == ["save", "pause"]
    assert q.wait(timeout=1)["cmd"] == "save" and q.wait(timeout=1)["cmd"] == "resume"
    assert q.poll() == [] and q.wait(timeout=0.01) is None


def test_stdin_lines_are_queued_and_bad_ones_reported():
    bad = []
    q = CommandQueue(on_bad_line=bad.append)
    q.read_stream(io.StringIO('{"cmd": "pause"}\nnonsense\n\n{"cmd": "resume"}\n'), stop_at_eof=True).join(5)
    assert [q.wait(1)["cmd"] for _ in range(3)] == ["pause", "resume", "stop"]
    assert len(bad) == 1 and "not JSON" in bad[0]


def test_command_files_are_taken_in_order_and_deleted(tmp_path):
    for c in ("pause", "save", "stop"):
        write_control_command(tmp_path, c)
    folder = tmp_path / "control"
    (folder / ".half-written.json.tmp").write_text('{"cmd": "st')   # not renamed into place yet: not read
    (folder / "0-junk.json").write_text("junk")
    (folder / "1-generate.json").write_text(json.dumps({"cmd": "generate"}))
    bad = []
    cmds = take_commands(folder, bad.append)
    assert [c["cmd"] for c in cmds] == ["pause", "save", "stop"]
    assert len(bad) == 2 and "0-junk.json" in bad[0] and "not a run command" in bad[1]
    assert sorted(p.name for p in folder.iterdir()) == [".half-written.json.tmp"]


def test_watched_folder_feeds_the_queue_and_drops_stale_commands(tmp_path):
    write_control_command(tmp_path, "stop")  # left by an engine that is gone: must not stop the next one
    notes = []
    q = CommandQueue(on_bad_line=notes.append)
    q.watch_folder(tmp_path / "control", interval_s=0.05)
    assert notes and "ignored 1" in notes[0]
    write_control_command(tmp_path, "pause")
    write_control_command(tmp_path, "resume")
    got = [q.wait(timeout=5), q.wait(timeout=5)]
    assert [c["cmd"] for c in got] == ["pause", "resume"]
    time.sleep(0.2)
    assert q.poll() == [] and not any((tmp_path / "control").iterdir())
