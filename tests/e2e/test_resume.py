"""Resume is exact: a run killed with SIGKILL after a checkpoint, then resumed, logs the same per-step losses
as a run that was never interrupted (CPU, same seed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from engine.protocol import read_events_file
from tests.e2e.conftest import FAST, cli

pytestmark = pytest.mark.slow

STEPS = ["--max-steps", "14", "--checkpoint-every", "5", "--eval-every", "0", "--set", "run.log_every=1"]


def step_losses(run_dir, after_resume: bool = False) -> dict[int, float]:
    events = read_events_file(run_dir / "events.jsonl")
    if after_resume:
        starts = [i for i, e in enumerate(events) if e.event == "hello" and e.get("resumed")]
        events = events[starts[-1]:]
    return {e.get("step"): e.get("loss") for e in events if e.event == "step"}


def test_killed_run_resumes_with_identical_losses(workspace, tmp_path):
    full = tmp_path / "full"
    cli(["train", "--stage", "pretrain", "--out", str(full), *STEPS, *FAST], workspace)
    reference = step_losses(full)
    assert sorted(reference) == list(range(1, 15))

    killed = tmp_path / "killed"
    env = {**os.environ, "MINIGPT_HOME": str(workspace)}
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "train", "--stage", "pretrain", "--out", str(killed),
                             "--events", "jsonl", *STEPS, *FAST], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, stdin=subprocess.PIPE, text=True)
    killed_at = None
    for line in proc.stdout:
        ev = json.loads(line)
        if ev["event"] == "checkpoint" and ev["step"] == 5:
            killed_at = ev["step"]
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert killed_at == 5 and proc.returncode == -signal.SIGKILL
    assert not (killed / "checkpoints" / "step-000014").exists()

    cli(["train", "--resume", str(killed)], workspace)
    resumed = step_losses(killed, after_resume=True)
    assert sorted(resumed) == list(range(6, 15))
    for step in range(6, 15):
        assert resumed[step] == reference[step], f"step {step}: {resumed[step]} != {reference[step]}"
    # the first five steps before the kill match too: same seed, same data order
    before = {e.get("step"): e.get("loss") for e in read_events_file(killed / "events.jsonl")[:40] if e.event == "step"}
    assert all(before[s] == reference[s] for s in range(1, 6))
