"""GRPO at a rollout temperature tau != 1: its ratio and its KL to the reference are taken on softmax(z / tau), the
distribution the rollout drew from, as PPO's are. Pinned by hand on a three-word vocabulary, and on a toy run."""

from __future__ import annotations

import math
import types

import pytest
import torch

from engine.train import rollout as ro
from engine.train.grpo import GRPOStage
from tests.engine.test_ppo_temperature import FixedLogits
from tests.engine.test_rl_stages import init_dir, letters_rule, prompts, rl_trainer  # noqa: F401 (fixtures)


def bare_grpo(tau: float, beta: float) -> GRPOStage:
    stage = GRPOStage()
    stage.cfg = types.SimpleNamespace(stage=types.SimpleNamespace(rollout_temperature=tau, clip_range=0.2, beta=beta))
    stage.approx_kl = []
    return stage


def test_grpo_loss_at_a_rollout_temperature_matches_a_hand_computed_value():
    # logits (0, ln 2, ln 4); at tau 0.5 the odds square: p(word 2) = 16/21. The rollout recorded that as pi_old, so
    # the ratio is exactly 1; the reference gave the word 1/2: d = ln(1/2) - ln(16/21) = ln(21/32),
    # k3 = 21/32 - ln(21/32) - 1 = 0.077463. Advantage 1, beta 0.1: L = -(1 * 1 - 0.1 * 0.077463) = -0.992254.
    batch = {"x": torch.zeros(1, 2, dtype=torch.long), "y": torch.tensor([[2, -100]]),
             "mask": torch.tensor([[1.0, 0.0]]), "old_logp": torch.tensor([[math.log(16 / 21), 0.0]]),
             "ref_logp": torch.tensor([[math.log(1 / 2), 0.0]]), "advantages": torch.tensor([1.0]),
             "reward_mean": torch.tensor(0.5), "reward_std": torch.tensor(0.5),
             "response_length": torch.tensor(1.0), "zero_std_share": torch.tensor(0.0)}
    loss, extras = bare_grpo(0.5, 0.1).loss(FixedLogits(), batch)
    k3 = 21 / 32 - math.log(21 / 32) - 1
    assert float(loss) == pytest.approx(-(1 - 0.1 * k3), abs=1e-6)
    assert float(extras["kl"]) == pytest.approx(k3, abs=1e-6)
    assert float(extras["clip_fraction"]) == 0.0
    # taken at temperature 1 the same sample would look 0.75 times as likely as when drawn (4/7 over 16/21): a
    # ratio the clip would hold at 0.8 for a sample the policy itself drew
    loss_t1, extras_t1 = bare_grpo(1.0, 0.1).loss(FixedLogits(), batch)
    assert float(loss_t1) == pytest.approx(-(0.75 - 0.1 * (7 / 8 - math.log(7 / 8) - 1)), abs=1e-6)


def test_a_grpo_rollout_records_the_log_probs_it_sampled_with(tmp_path, workspace, init_dir, prompts,  # noqa: F811
                                                               letters_rule):  # noqa: F811
    trainer = rl_trainer(tmp_path, workspace, init_dir, prompts, "grpo", "stage.group_size=4",
                         "stage.rollout_temperature=0.7")
    batch = next(trainer.train_batches)
    with torch.no_grad():
        tempered = ro.policy_logprobs(trainer.model, batch, 0.7)[1]
        plain = ro.policy_logprobs(trainer.model, batch)[1]
        ref = ro.policy_logprobs(trainer.stage.reference, batch, 0.7)[1]
    torch.testing.assert_close(batch["old_logp"], tempered)
    torch.testing.assert_close(batch["ref_logp"], ref)
    assert not torch.allclose(batch["old_logp"], plain)
    _, extras = trainer.stage.loss(trainer.model, batch)      # before any update: on-policy, at the reference
    assert float(extras["clip_fraction"]) == 0.0 and float(extras["kl"]) == pytest.approx(0.0, abs=1e-6)
