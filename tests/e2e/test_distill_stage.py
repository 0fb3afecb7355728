"""Distillation through the real CLI on the built-in SFT data: a run killed with SIGKILL after a checkpoint and
resumed logs the same per-step losses (and KL / CE extras) as one never interrupted, with the teacher rebuilt from
stage.teacher; and a missing teacher, or one with another tokenizer, stops before training with the key named."""

from __future__ import annotations

import json

import pytest

from engine.protocol import read_events_file
from tests.e2e.conftest import FAST, cli, kill_after_checkpoint

pytestmark = pytest.mark.slow

STEPS = ["--max-steps", "6", "--checkpoint-every", "3", "--eval-every", "0", "--set", "run.log_every=1"]
EXTRAS = ("kl", "ce")


@pytest.fixture(scope="module")
def teacher(workspace):
    """A teacher with the warm-up's tokenizer: two SFT steps from the warm-up pretrain checkpoint."""
    out = workspace / "distill-teacher"
    if not (out / "checkpoints").is_dir():
        cli(["train", "--stage", "sft", "--init", str(workspace / "warmup"), "--max-steps", "2", *FAST,
             "--out", str(out)], workspace)
    return out


def steps(run_dir, after_resume: bool = False) -> dict[int, dict]:
    events = read_events_file(run_dir / "events.jsonl")
    if after_resume:
        starts = [i for i, e in enumerate(events) if e.event == "hello" and e.get("resumed")]
        events = events[starts[-1]:]
    return {e.get("step"): {k: e.get(k) for k in ("loss", *EXTRAS)} for e in events if e.event == "step"}


def test_killed_distill_run_resumes_with_identical_losses(workspace, teacher, tmp_path):
    args = ["--stage", "distill", "--init", str(workspace / "warmup"), "--set", f"stage.teacher={teacher}",
            *STEPS, *FAST]
    full = tmp_path / "full"
    cli(["train", *args, "--out", str(full)], workspace)
    reference = steps(full)
    assert sorted(reference) == list(range(1, 7))
    assert all(reference[s][k] > 0 for s in reference for k in EXTRAS)
    evals = [e for e in read_events_file(full / "events.jsonl") if e.event == "eval"]
    assert evals and evals[-1].get("metrics")["teacher_kl"] > 0

    killed = tmp_path / "killed"
    kill_after_checkpoint(args, killed, workspace)

    cli(["train", "--resume", str(killed)], workspace)
    resumed = steps(killed, after_resume=True)
    assert sorted(resumed) == list(range(4, 7))
    for step in range(4, 7):
        assert resumed[step] == reference[step], f"step {step}: {resumed[step]} != {reference[step]}"
    meta = json.loads((full / "checkpoints" / "step-000006" / "config.json").read_text())
    assert meta["stage"] == "distill" and meta["teacher"].startswith(str(teacher))


def test_distill_without_a_usable_teacher_stops_before_training(workspace, teacher, tmp_path):
    # (no stage.teacher at all is a config error: tests/engine/test_distill_loss.py)
    base = ["train", "--stage", "distill", "--max-steps", "2", *FAST]
    gone = cli([*base, "--set", f"stage.teacher={tmp_path / 'nope'}", "--out", str(tmp_path / "gone")], workspace,
               check=False)
    assert gone.returncode != 0 and "stage.teacher" in gone.stderr and "no such" in gone.stderr

    # from scratch on SFT data the student trains its own tokenizer, which is not the warm-up teacher's
    other = tmp_path / "other"
    bad = cli([*base, "--set", f"stage.teacher={teacher}", "--out", str(other)], workspace, check=False)
    assert bad.returncode != 0
    assert "stage.teacher" in bad.stderr and "different tokenizer" in bad.stderr and "tokenizer.path" in bad.stderr
    assert not [e for e in read_events_file(other / "events.jsonl") if e.event == "step"]
