"""PPO and GRPO through the real CLI on the built-in RL prompts: a short run emits exactly the promised step metrics,
samples with their reward and a held-out reward at each eval; a run killed with SIGKILL after a checkpoint taken in
the middle of a rollout batch resumes with the same per-step losses as an uninterrupted one (reference, value head,
rollout in progress and sampling seeds included); bad reward settings stop before training with a clear message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.protocol import read_events_file
from tests.e2e.conftest import FAST, cli, kill_after_checkpoint

pytestmark = pytest.mark.slow

# format scores a barely trained model's cool-sampled replies unevenly (empty, one line, several lines), so the
# advantages are not all 0 and the weights do move.
RL = ["--set", "stage.reward=format", "--set", "stage.rollout_tokens=8", "--set", "stage.rollout_temperature=0.3",
      "--set", "run.log_every=1", "--set", "optim.warmup_steps=0"]
PPO_KEYS = {"reward_mean", "reward_std", "kl", "clip_fraction", "value_loss", "entropy", "response_length"}
LOOP_KEYS = {"step", "total_steps", "epoch", "loss", "lr", "grad_norm", "tokens_seen", "tokens_per_s", "skipped_steps",
             "eta_s", "mem_allocated", "mem_reserved", "mem_peak", "mem_kind"}


@pytest.fixture(scope="module")
def init(workspace, tmp_path_factory) -> str:
    """A policy to start from: three pretrain steps on the built-in data."""
    run = tmp_path_factory.mktemp("init") / "pre"
    cli(["train", "--stage", "pretrain", "--max-steps", "3", "--eval-every", "0", "--out", str(run), *FAST], workspace)
    return str(run)


def events(run_dir):
    return read_events_file(run_dir / "events.jsonl")


@pytest.mark.parametrize("stage", ["ppo", "grpo"])
def test_short_run_reports_rl_metrics_samples_and_held_out_reward(workspace, init, tmp_path, stage):
    run = tmp_path / stage
    cli(["train", "--stage", stage, "--init", init, "--out", str(run), "--max-steps", "4",
         "--eval-every", "2", *FAST, *RL], workspace)
    evs = events(run)
    steps = [e for e in evs if e.event == "step"]
    assert [e.get("step") for e in steps] == [1, 2, 3, 4]
    # GRPO has no value head, so no value_loss; it adds the share of groups that teach nothing
    want = PPO_KEYS if stage == "ppo" else PPO_KEYS - {"value_loss"} | {"zero_std_share"}
    for e in steps:
        extra = set(e.data) - LOOP_KEYS
        assert extra == want, f"{stage} step keys {sorted(extra)}"
        assert 0.0 <= e.get("reward_mean") <= 1.0 and e.get("response_length") > 0
    if stage == "grpo":
        assert all(0.0 <= e.get("zero_std_share") <= 1.0 for e in steps)
        assert min(e.get("zero_std_share") for e in steps) < 1.0  # some group did teach something
    evals = [e for e in evs if e.event == "eval"]
    assert [e.get("step") for e in evals] == [0, 2, 4]
    assert all(0.0 <= e.get("metrics")["reward"] <= 1.0 and e.get("val_loss") == -e.get("metrics")["reward"]
               for e in evals)
    samples = [e for e in evs if e.event == "sample"]
    assert samples and all({"prompt", "completion", "reward"} <= set(e.data) for e in samples)
    # the policy trained: its weights differ from the init's
    assert (run / "checkpoints" / "step-000004" / "model.safetensors").read_bytes() != \
        (Path(init) / "checkpoints" / "step-000003" / "model.safetensors").read_bytes()


def step_losses(run_dir, after_resume: bool = False) -> dict[int, float]:
    evs = events(run_dir)
    if after_resume:
        starts = [i for i, e in enumerate(evs) if e.event == "hello" and e.get("resumed")]
        evs = evs[starts[-1]:]
    return {e.get("step"): (e.get("loss"), e.get("reward_mean"), e.get("clip_fraction")) for e in evs
            if e.event == "step"}


@pytest.mark.parametrize("stage", ["ppo", "grpo"])
def test_killed_rl_run_resumes_mid_rollout_with_identical_losses(workspace, init, tmp_path, stage):
    # ppo_epochs 2: the checkpoint at step 3 falls between the two passes over the second rollout batch.
    args = ["--init", init, "--max-steps", "6", "--checkpoint-every", "3", "--eval-every", "0",
            "--set", "stage.ppo_epochs=2", *FAST, *RL]
    full = tmp_path / "full"
    cli(["train", "--stage", stage, "--out", str(full), *args], workspace)
    reference = step_losses(full)
    assert sorted(reference) == list(range(1, 7))

    killed = tmp_path / "killed"
    kill_after_checkpoint(["--stage", stage, *args], killed, workspace)

    cli(["train", "--resume", str(killed)], workspace)
    resumed = step_losses(killed, after_resume=True)
    assert sorted(resumed) == [4, 5, 6]
    for step in (4, 5, 6):
        assert resumed[step] == reference[step], f"step {step}: {resumed[step]} != {reference[step]}"
    # the weights moved: a resume that replayed nothing would also repeat a constant loss
    assert len({reference[s][0] for s in range(1, 7)}) > 1


def test_bad_reward_settings_stop_before_training(workspace, init, tmp_path):
    proc = cli(["train", "--stage", "grpo", "--init", init, "--set", "stage.reward=", *FAST], workspace, check=False)
    assert proc.returncode == 2 and "stage.reward" in proc.stderr and "needs a reward source" in proc.stderr

    proc = cli(["train", "--stage", "ppo", "--init", init, "--set", "stage.reward=exact_matches", *FAST], workspace,
               check=False)
    assert proc.returncode == 2 and "unknown rule reward 'exact_matches'" in proc.stderr
    assert "exact_match" in proc.stderr and "numeric_match" in proc.stderr

    prompts = tmp_path / "prompts.jsonl"  # RL prompts with no answers: exact_match has nothing to compare with
    prompts.write_text("".join(json.dumps({"prompt": f"Tell me a story about {i} cats."}) + "\n" for i in range(40)))
    proc = cli(["train", "--stage", "grpo", "--init", init, "--data", str(prompts), "--set", "stage.reward=exact_match",
                *FAST], workspace, check=False)
    assert proc.returncode == 2 and str(prompts) in proc.stderr and "no \"answer\"" in proc.stderr
    assert "format" in proc.stderr  # the hint names a rule that needs none

    proc = cli(["train", "--stage", "ppo", "--init", init, "--set", f"stage.reward={tmp_path / 'no-such-rm'}", *FAST],
               workspace, check=False)
    assert proc.returncode == 2 and "no-such-rm" in proc.stderr

    proc = cli(["train", "--stage", "grpo", "--init", init, "--set", "stage.group_size=3", *FAST], workspace,
               check=False)
    assert proc.returncode == 2 and "stage.group_size" in proc.stderr
    assert not list(tmp_path.glob("**/step-*"))
