"""engine.run_lock: a run folder is claimed atomically and its lock is held for the run's life.

Two processes racing for the same --out: exactly one wins, every time (before the lock, the check and the
creation were separate steps, so both won whenever the folder was still empty).
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from engine.errors import UserError
from engine.run_lock import LOCK_NAME, claim_out, hold_run, is_live

CLAIMER = """
import sys, time
from pathlib import Path
from engine.errors import UserError
from engine.run_lock import claim_out
go = float(sys.argv[2])
while time.time() < go:
    pass
try:
    lock = claim_out(Path(sys.argv[1]))
    print("won", flush=True)  # the folder stays empty: the claim alone must keep the other process out
except UserError as e:
    print("lost", e.message, flush=True)
sys.stdin.read()  # the winner holds the folder until the test has both answers
"""


def test_two_processes_racing_for_one_out_exactly_one_wins(tmp_path):
    tries = 12
    for i in range(tries):
        out = tmp_path / f"run-{i}"
        go = time.time() + 1.5  # both interpreters are up and spinning by then
        procs = [subprocess.Popen([sys.executable, "-c", CLAIMER, str(out), str(go)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        try:
            answers = [p.stdout.readline().strip() for p in procs]
        finally:
            for p in procs:
                p.stdin.close()
                p.wait(timeout=30)
        assert sorted(a.split(" ")[0] for a in answers) == ["lost", "won"], (answers, [p.stderr.read() for p in procs])
        loser = next(a for a in answers if a.startswith("lost"))
        assert "in use by another engine" in loser


def test_lock_is_held_for_the_runs_life_and_tells_live_from_dead(tmp_path):
    out = tmp_path / "run"
    assert not is_live(out) and not out.exists()
    lock = claim_out(out)
    assert (out / LOCK_NAME).is_file() and is_live(out)
    with pytest.raises(UserError, match="in use by another engine"):
        hold_run(out, timeout=0.1)  # e.g. a --resume of the same run while it trains
    with pytest.raises(UserError, match="in use by another engine"):
        claim_out(out, timeout=0.1)
    lock.release()
    assert not is_live(out)
    hold_run(out).release()  # free again once the owner let go


def test_claim_accepts_an_empty_folder_and_refuses_one_with_content(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    claim_out(empty).release()
    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="already exists and is not empty") as refused:
        claim_out(full)
    assert (full / "notes.txt").read_text() == "mine" and not is_live(full)
    assert sorted(p.name for p in full.iterdir()) == ["notes.txt"]  # no run.lock left in the user's folder
    assert "--resume" not in refused.value.hint  # not a run: resuming it cannot work
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(UserError, match="not a folder"):
        claim_out(a_file)


def test_a_killed_owner_leaves_no_live_lock(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", CLAIMER, str(out), "0"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().startswith("won")
    assert is_live(out)
    proc.kill()
    proc.wait(timeout=30)
    assert not is_live(out)
