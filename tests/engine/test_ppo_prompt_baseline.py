"""PPO with stage.prompt_baseline: stage.group_size replies per prompt, each reply's score minus its prompt's mean, so
a reward that only says which prompt was asked (a reward model's per-prompt offset) teaches nothing; worked by hand,
and on a toy run against a plain PPO rollout that does learn from such an offset."""

from __future__ import annotations

import pytest
import torch

from engine.errors import UserError
from engine.train.ppo import centre_by_prompt
from engine.train.rewards import RULE_REWARDS, RuleReward
from tests.engine.test_rl_stages import init_dir, prompts, rl_trainer  # noqa: F401 (fixtures)


def test_scores_are_centred_on_their_prompts_mean():
    got = centre_by_prompt(torch.tensor([3.0, 1.0, 10.0, 12.0]), 2)
    assert got.tolist() == [1.0, -1.0, -1.0, 1.0]
    got = centre_by_prompt(torch.tensor([1.0, 0.0, 0.0, 0.0, 5.0, 5.0, 5.0, 5.0]), 4)
    assert got.tolist() == [0.75, -0.25, -0.25, -0.25, 0.0, 0.0, 0.0, 0.0]


@pytest.fixture
def prompt_only_rule(monkeypatch):
    """A score fixed by the prompt alone (its answer's length): the offset a reward model adds per prompt."""
    monkeypatch.setitem(RULE_REWARDS, "prompt_only", RuleReward("prompt_only", lambda text, answer: float(len(answer)),
                                                                True, "the answer's length"))


def test_a_prompts_own_offset_gives_no_advantage_with_the_baseline(tmp_path, workspace, init_dir,  # noqa: F811
                                                                    prompts, prompt_only_rule):  # noqa: F811
    common = ("stage.reward=prompt_only", "stage.kl_coef=0", "stage.whiten_rewards=true")
    trainer = rl_trainer(tmp_path, workspace, init_dir, prompts, "ppo", *common, "stage.prompt_baseline=true",
                         "stage.group_size=4")
    batch = next(trainer.train_batches)
    prompt_len = (batch["y"] == -100).int().argmin(-1)
    for g in range(0, 8, 4):                     # 2 prompts x 4 replies, each prompt's replies consecutive
        assert torch.equal(batch["x"][g, :prompt_len[g]].expand(4, -1), batch["x"][g:g + 4, :prompt_len[g]])
    assert float(batch["reward_std"]) > 0                   # the raw scores differ (events show them as they are)
    assert float(batch["advantages"].abs().max()) == 0.0    # but all of it is the prompts' own offset
    plain = rl_trainer(tmp_path, workspace, init_dir, prompts, "ppo", *common)
    assert float(next(plain.train_batches)["advantages"].abs().max()) > 0.5   # without it, the offset is a signal


def test_a_batch_that_does_not_split_into_groups_is_refused(tmp_path, workspace, init_dir, prompts,  # noqa: F811
                                                            prompt_only_rule):
    with pytest.raises(UserError, match="stage.group_size 3"):
        rl_trainer(tmp_path, workspace, init_dir, prompts, "ppo", "stage.reward=prompt_only",
                   "stage.prompt_baseline=true", "stage.group_size=3")
