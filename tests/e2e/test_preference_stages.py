"""DPO and the reward model through the real CLI on the built-in preference pairs: a run killed with SIGKILL after a
checkpoint and resumed logs the same per-step losses (and preference extras) as one never interrupted, with the
reference rebuilt from the original init and the reward head resumed; `minigpt eval --metrics reward` scores a
reward checkpoint; and a DPO run with no init, or with a data file of the wrong kind, stops before training."""

from __future__ import annotations

import json

import pytest

from engine.protocol import read_events_file
from tests.e2e.conftest import FAST, cli, kill_after_checkpoint

pytestmark = pytest.mark.slow

STEPS = ["--max-steps", "8", "--checkpoint-every", "3", "--eval-every", "0", "--set", "run.log_every=1"]
EXTRAS = ("chosen_reward", "rejected_reward", "margin", "pref_accuracy")


def steps(run_dir, after_resume: bool = False) -> dict[int, dict]:
    events = read_events_file(run_dir / "events.jsonl")
    if after_resume:
        starts = [i for i, e in enumerate(events) if e.event == "hello" and e.get("resumed")]
        events = events[starts[-1]:]
    return {e.get("step"): {k: e.get(k) for k in ("loss", *EXTRAS)} for e in events if e.event == "step"}


@pytest.mark.parametrize("stage", ["dpo", "reward"])
def test_killed_preference_run_resumes_with_identical_losses(workspace, tmp_path, stage):
    init = str(workspace / "warmup")
    args = ["--stage", stage, "--init", init, *STEPS, *FAST]
    full = tmp_path / "full"
    cli(["train", *args, "--out", str(full)], workspace)
    reference = steps(full)
    assert sorted(reference) == list(range(1, 9))
    assert all(reference[s][k] is not None for s in reference for k in EXTRAS)
    if stage == "dpo":  # policy == reference at the first step: no margin yet
        assert reference[1]["margin"] == 0.0 and reference[1]["pref_accuracy"] == 0.0

    killed = tmp_path / "killed"
    kill_after_checkpoint(args, killed, workspace)

    cli(["train", "--resume", str(killed)], workspace)
    resumed = steps(killed, after_resume=True)
    assert sorted(resumed) == list(range(4, 9))
    for step in range(4, 9):
        assert resumed[step] == reference[step], f"step {step}: {resumed[step]} != {reference[step]}"

    final = full / "checkpoints" / "step-000008"
    meta = json.loads((final / "config.json").read_text())
    assert meta["stage"] == stage
    assert (meta.get("kind") == "reward_model") == (stage == "reward")
    assert (final / "reward_head.safetensors").is_file() == (stage == "reward")
    if stage == "reward":
        report = tmp_path / "report.json"
        proc = cli(["eval", str(full), "--metrics", "reward", "--limit", "40", "--out", str(report)], workspace)
        metrics = json.loads(report.read_text())["metrics"]
        assert metrics["pairs"] == 40 and 0.0 <= metrics["pairwise_accuracy"] <= 1.0
        assert "pairwise_accuracy" in proc.stdout and "mean_margin" in proc.stdout
        bad = cli(["eval", init, "--metrics", "reward"], workspace, check=False)
        assert bad.returncode != 0 and "not a reward model" in bad.stderr


def test_dpo_bad_inputs_stop_before_training(workspace, tmp_path):
    proc = cli(["train", "--stage", "dpo", "--out", str(tmp_path / "a"), *FAST], workspace, check=False)
    assert proc.returncode == 2 and "stage.init" in proc.stderr
    text = tmp_path / "text.jsonl"
    text.write_text("".join(json.dumps({"text": f"line {i}"}) + "\n" for i in range(20)))
    proc = cli(["train", "--stage", "dpo", "--init", str(workspace / "warmup"), "--data", str(text),
                "--out", str(tmp_path / "b"), *FAST], workspace, check=False)
    assert proc.returncode == 2 and str(text) in proc.stderr and "preference" in proc.stderr
    assert not (tmp_path / "b" / "checkpoints").exists()
