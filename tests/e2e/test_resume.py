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


def test_resume_guards(workspace, tmp_path):
    """Resume refuses what would break exactness or overwrite checkpoints; hardware may change."""
    run = tmp_path / "run"
    data = tmp_path / "text.jsonl"
    data.write_text("".join(json.dumps({"text": f"line {i} of a small corpus about cats and dogs."}) + "\n"
                            for i in range(300)))
    cli(["train", "--stage", "pretrain", "--data", str(data), "--out", str(run), "--max-steps", "6",
         "--checkpoint-every", "3", "--eval-every", "0", *FAST], workspace)
    older = run / "checkpoints" / "step-000003"
    proc = cli(["train", "--resume", str(older), "--max-steps", "8"], workspace, check=False)
    assert proc.returncode == 2 and "step-000006" in proc.stderr and "overwrite" in proc.stderr
    proc = cli(["train", "--resume", str(run), "--max-steps", "8", "--set", "run.seed=5"], workspace, check=False)
    assert proc.returncode == 2 and "run.seed" in proc.stderr
    proc = cli(["train", "--resume", str(run), "--set", "model.d_model=32"], workspace, check=False)
    assert proc.returncode == 2 and "model" in proc.stderr

    with data.open("a") as f:  # the data changes under the run: resuming can no longer be exact
        f.write(json.dumps({"text": "one more line"}) + "\n")
    proc = cli(["train", "--resume", str(run), "--max-steps", "8"], workspace, check=False)
    assert proc.returncode == 2 and "data changed" in proc.stderr
    lines = data.read_text().splitlines()[:-1]
    data.write_text("\n".join(lines) + "\n")
    cli(["train", "--resume", str(run), "--max-steps", "8", "--set", "hardware.threads=2"], workspace)
    assert (run / "checkpoints" / "step-000008").is_dir()


def test_best_checkpoint_follows_the_best_eval(workspace, tmp_path):
    run = tmp_path / "run"
    cli(["train", "--stage", "pretrain", "--out", str(run), "--max-steps", "8", "--eval-every", "2",
         "--checkpoint-every", "3", *FAST], workspace)
    events = read_events_file(run / "events.jsonl")
    evals = {e.get("step"): e.get("val_loss") for e in events if e.event == "eval" and e.get("step") > 0}
    best_step = min(evals, key=evals.get)
    assert (run / "checkpoints" / "best").read_text().strip() == f"step-{best_step:06d}"
    kept = sorted(p.name for p in (run / "checkpoints").glob("step-*"))
    # periodic (3, 6), final (8), and at most one folder kept only for being best
    assert {"step-000003", "step-000006", "step-000008"} <= set(kept) and len(kept) <= 4
    done = [e for e in events if e.event == "done"][-1]
    assert done.get("summary")["best_val_loss"] == evals[best_step]
