"""PPO and GRPO on a toy model, in process: a rollout's rows and log-probs are the live policy's, one optimizer step
moves log-probs in the direction of the advantages (GRPO per reply, PPO per token), the value head learns its
returns, beta 0 keeps no reference, the rollout iterator repeats a batch ppo_epochs times and stops early on KL,
prompts are picked deterministically, and a reward-model checkpoint is used through its contract (a stand-in here)
and refused when its tokenizer differs."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import checkpoint as ckpt
from engine.commands import CommandQueue
from engine.config import load_config
from engine.errors import UserError
from engine.events import NullSink
from engine.hardware import init_runtime
from engine.model.gpt import GPT
from engine.train import losses
from engine.train import rollout as ro
from engine.train.loop import Trainer
from engine.train.registry import make_stage
from engine.train.rewards import RULE_REWARDS, RuleReward
from engine.train.setup import build_parts

TOY = ["model.d_model=32", "model.n_layer=2", "model.n_head=4", "model.n_kv_head=2", "model.max_seq_len=64",
       "run.task_eval_items=0", "run.sample_prompts=[]", "hardware.device=cpu", "hardware.precision=fp32",
       "hardware.threads=1", "data.seq_len=64", "stage.rollout_tokens=8", "run.batch_size=8", "optim.warmup_steps=0",
       "optim.schedule=constant", "optim.lr=1e-3", "optim.grad_clip=0", "run.grad_accum=1"]


def letters(completion: str, answer: str | None) -> float:
    """Share of letters in the reply: varies from reply to reply of a random model, so advantages are not 0."""
    return sum(c.isalpha() for c in completion) / max(1, len(completion))


@pytest.fixture
def letters_rule(monkeypatch):
    monkeypatch.setitem(RULE_REWARDS, "letters", RuleReward("letters", letters, False, "share of letters"))


@pytest.fixture
def init_dir(tmp_path, tok, model_cfg) -> Path:
    """A toy policy checkpoint with the session tokenizer."""
    torch.manual_seed(0)
    cfg = model_cfg(vocab_size=tok.vocab_size)
    return ckpt.save_checkpoint(tmp_path / "init" / "checkpoints", 0, GPT(cfg), cfg, tok.to_json(), None,
                                {"stage": "sft"})


@pytest.fixture
def prompts(tmp_path, jsonl) -> Path:
    words = ["cat", "dog", "sun", "tree", "book", "fish", "bird", "milk"]
    return jsonl(tmp_path / "prompts.jsonl", [{"prompt": f"Say the word {w} {i}.", "answer": w}
                                              for i in range(6) for w in words])


def rl_trainer(tmp_path: Path, workspace: Path, init_dir: Path, data: Path, stage: str, *more: str) -> Trainer:
    cfg = load_config(overrides=[*TOY, f"stage.name={stage}", f"stage.init={init_dir}", f"data.train=[{data}]",
                                 "stage.reward=letters", *more])
    rt = init_runtime(cfg.hardware, cfg.run.seed)
    parts = build_parts(cfg, make_stage(stage), workspace, NullSink(), rt, init_dir, origin=init_dir)
    run_dir = tmp_path / f"run-{stage}"
    run_dir.mkdir(exist_ok=True)
    return Trainer(parts, rt, run_dir, NullSink(), CommandQueue())


def logps(trainer: Trainer, batch: dict) -> torch.Tensor:
    """The policy's log-probs as PPO takes them: at the rollout temperature (the ppo preset samples at 0.7)."""
    with torch.no_grad():
        return ro.policy_logprobs(trainer.model, batch, trainer.cfg.stage.rollout_temperature)[1]


def one_step(trainer: Trainer, batch: dict) -> None:
    trainer.accumulate([batch])
    trainer.optimizer.step()
    trainer.optimizer.zero_grad(set_to_none=True)


def test_grpo_step_moves_each_reply_by_its_group_advantage(tmp_path, workspace, init_dir, prompts, letters_rule):
    trainer = rl_trainer(tmp_path, workspace, init_dir, prompts, "grpo", "stage.group_size=4", "stage.beta=0.04")
    batch = next(trainer.train_batches)
    mask, adv = batch["mask"], batch["advantages"]
    # groups are consecutive rows of one prompt; the rollout's old log-probs are the live policy's
    prompt_len = (batch["y"] == -100).int().argmin(-1)
    for g in range(0, 8, 4):
        assert len(set(prompt_len[g:g + 4].tolist())) == 1
        assert torch.equal(batch["x"][g, :prompt_len[g]].expand(4, -1), batch["x"][g:g + 4, :prompt_len[g]])
        assert abs(float(adv[g:g + 4].sum())) < 1e-4
    before = logps(trainer, batch)
    assert torch.equal(before, batch["old_logp"]) and "ref_logp" in batch
    assert adv.abs().max() > 0.5, "the toy rewards should differ within groups"
    one_step(trainer, batch)
    moved = ((logps(trainer, batch) - before) * mask).sum(-1)                     # change of log p(reply), (B,)
    assert float((adv * moved).sum()) > 0            # replies above their group's mean became likelier
    assert float(moved[adv > 0].mean()) > float(moved[adv < 0].mean())


def test_grpo_with_beta_zero_keeps_no_reference(tmp_path, workspace, init_dir, prompts, letters_rule):
    trainer = rl_trainer(tmp_path, workspace, init_dir, prompts, "grpo", "stage.beta=0")
    assert trainer.stage.reference is None
    batch = next(trainer.train_batches)
    assert "ref_logp" not in batch
    _, extras = trainer.stage.loss(trainer.model, batch)
    assert "kl" not in extras and {"reward_mean", "zero_std_share", "clip_fraction"} <= set(extras)


def test_ppo_step_follows_token_advantages_and_fits_the_values(tmp_path, workspace, init_dir, prompts, letters_rule):
    trainer = rl_trainer(tmp_path, workspace, init_dir, prompts, "ppo", "optim.lr=3e-3")
    stage = trainer.stage
    assert not any(p.requires_grad for p in stage.reference.parameters())
    optimized = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    assert all(id(p) in optimized for p in stage.value_head.parameters())
    assert not any(id(p) in optimized for p in stage.reference.parameters())
    batch = next(trainer.train_batches)
    mask, adv = batch["mask"], batch["advantages"]
    # advantages are whitened over the reply tokens; the score sits on each reply's last token
    assert abs(float(losses.masked_mean(adv, mask))) < 1e-4 and torch.all(adv[mask == 0] == 0)
    before = logps(trainer, batch)
    assert torch.equal(before, batch["old_logp"])
    _, extras = stage.loss(trainer.model, batch)
    value_before = float(extras["value_loss"])
    for _ in range(3):
        one_step(trainer, batch)
    moved = (logps(trainer, batch) - before) * mask
    assert float((adv * moved).sum()) > 0
    _, extras = stage.loss(trainer.model, batch)
    assert float(extras["value_loss"]) < value_before


def test_the_value_head_steps_at_value_lr_ratio_times_the_policys_rate(tmp_path, workspace, init_dir, prompts,
                                                                        letters_rule):
    """A head trained from scratch beside a trained policy takes stage.value_lr_ratio x the schedule's lr (4 here,
    not the default); the policy keeps the schedule's."""
    trainer = rl_trainer(tmp_path, workspace, init_dir, prompts, "ppo", "stage.value_lr_ratio=4")
    trainer.train_step(2e-3)
    head = {id(p) for p in trainer.stage.value_head.parameters()}
    head_groups = [g for g in trainer.optimizer.param_groups if all(id(p) in head for p in g["params"])]
    others = [g for g in trainer.optimizer.param_groups if not any(id(p) in head for p in g["params"])]
    assert head_groups and others
    assert all(g["lr"] == pytest.approx(8e-3) and g["kind"] == "stage:value_head" for g in head_groups)
    assert all(g["lr"] == pytest.approx(2e-3) for g in others)
    with pytest.raises(UserError, match="stage.value_lr_ratio"):
        load_config(overrides=["stage.name=ppo", f"stage.init={init_dir}", "stage.reward=exact_match",
                               "stage.value_lr_ratio=0"])


def test_kl_target_ends_a_rollouts_passes_once_the_policy_moved(tmp_path, workspace, init_dir, prompts, letters_rule):
    def rollouts_begun(*more):
        trainer = rl_trainer(tmp_path, workspace, init_dir, prompts, "ppo", "stage.ppo_epochs=3", "optim.lr=1e-2",
                             *more)
        for _ in range(6):
            trainer.train_step(1e-2)
        return trainer.train_batches.index, trainer.train_batches.early_stops

    assert rollouts_begun("stage.kl_target=0") == (2, 0)        # 3 passes over rollouts 0 and 1
    # The KL is read from each pass's own forward, before its update: the first pass sees 0, the second the first
    # update's KL, far above 1e-9, so each rollout gets two passes.
    assert rollouts_begun("stage.kl_target=1e-9") == (3, 2)


def test_rollout_batches_repeat_per_epoch_and_stop_early():
    made = []

    def make(i):
        made.append(i)
        return [{"i": torch.tensor(i), "mb": torch.tensor(k)} for k in range(2)]

    kl = {"stop": False}
    it = ro.RolloutBatches(make, epochs=3, stop_early=lambda: kl["stop"])
    seen = [(int(b["i"]), int(b["mb"])) for b in (next(it) for _ in range(6))]
    assert seen == [(0, 0), (0, 1)] * 3 and made == [0]
    kl["stop"] = True  # the policy moved too far during the first pass of rollout 1: the next step samples anew
    seen = [(int(b["i"]), int(b["mb"])) for b in (next(it) for _ in range(4))]
    assert seen == [(1, 0), (1, 1), (2, 0), (2, 1)] and it.early_stops == 1
    state = it.state_dict()
    again = ro.RolloutBatches(make, epochs=3, stop_early=lambda: False)
    again.load_state_dict(state)
    assert [(int(b["i"]), int(b["mb"])) for b in (next(again) for _ in range(2))] == [(2, 0), (2, 1)]


def test_prompts_are_picked_from_the_index_alone_and_cover_every_item():
    items = np.arange(10, 20)
    first = [ro.pick_prompts(items, i, 4, seed=3) for i in range(5)]
    assert first == [ro.pick_prompts(items, i, 4, seed=3) for i in range(5)]
    flat = [x for chunk in first for x in chunk]
    assert sorted(flat[:10]) == list(range(10, 20)) and sorted(flat[10:20]) == list(range(10, 20))
    assert ro.pick_prompts(items, 0, 4, seed=4) != first[0]


def test_rows_mask_exactly_the_reply_tokens():
    rows = ro.build_rows([[1, 2, 3], [4, 5]], [[7, 8], [9, 10, 11, 12]], pad_id=0)
    assert rows["x"].tolist() == [[1, 2, 3, 7, 0], [4, 5, 9, 10, 11]]
    assert rows["y"].tolist() == [[-100, -100, 7, 8, -100], [-100, 9, 10, 11, 12]]
    assert rows["mask"].sum().item() == 6


# ---------------------------------------------------------------------------------------------- reward models

class StandInRewardModel:
    """The contract of engine/train/reward.py's loaded model: (B, T) ids and (B,) lengths -> (B,) scores."""

    def __init__(self, tokenizer_json: str):
        self.tokenizer_json = tokenizer_json
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def __call__(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        self.calls.append((input_ids, lengths))
        return lengths.float() / 100


@pytest.fixture
def stand_in_reward(monkeypatch):
    module = types.ModuleType("engine.train.reward")
    loaded: list[StandInRewardModel] = []

    def load_reward_model(path, device):
        loaded.append(StandInRewardModel((Path(path) / "tokenizer.json").read_text(encoding="utf-8")))
        return loaded[-1]

    def check_same_tokenizer(policy_tok, reward_path):
        return (Path(reward_path) / "tokenizer.json").read_text(encoding="utf-8") == policy_tok.to_json()

    module.load_reward_model, module.check_same_tokenizer = load_reward_model, check_same_tokenizer
    monkeypatch.setitem(sys.modules, "engine.train.reward", module)
    return loaded


def test_a_reward_checkpoint_scores_the_rendered_conversation(tmp_path, workspace, init_dir, prompts, tok,
                                                              stand_in_reward):
    rm = tmp_path / "rm"
    rm.mkdir()
    (rm / "tokenizer.json").write_text(tok.to_json(), encoding="utf-8")
    trainer = rl_trainer(tmp_path, workspace, init_dir, prompts, "grpo", f"stage.reward={rm}")
    batch = next(trainer.train_batches)
    ids, lengths = stand_in_reward[0].calls[-1]
    assert ids.shape[0] == 8 and torch.all(ids[torch.arange(8), lengths - 1] != tok.pad_id)
    # each scored row is prompt turns + the sampled reply, ending at the reply's <|im_end|>: the token the reward
    # model's head read in training (encode_pair), not the newline the chat template puts after it
    assert torch.all(ids[torch.arange(8), lengths - 1] == tok.im_end_id)
    assert float(batch["reward_mean"]) == pytest.approx(float((lengths.float() / 100).mean()))


def test_a_reward_checkpoint_with_another_tokenizer_is_refused(tmp_path, workspace, init_dir, prompts,
                                                               stand_in_reward):
    rm = tmp_path / "rm"
    rm.mkdir()
    (rm / "tokenizer.json").write_text('{"another": "tokenizer"}', encoding="utf-8")
    with pytest.raises(UserError, match="different tokenizer") as e:
        rl_trainer(tmp_path, workspace, init_dir, prompts, "ppo", f"stage.reward={rm}")
    assert str(rm) in e.value.message and not stand_in_reward  # refused before the model was loaded


def test_rl_config_errors_name_their_key():
    with pytest.raises(UserError, match="stage.reward"):
        load_config(overrides=["stage.name=ppo", "stage.init=/x", "stage.reward="])
    for bad, key in (("stage.group_size=1", "stage.group_size"), ("stage.ppo_epochs=0", "stage.ppo_epochs"),
                     ("stage.beta=-1", "stage.beta"), ("stage.clip_range=0", "stage.clip_range"),
                     ("stage.lam=2", "stage.lam"), ("stage.rollout_temperature=0", "stage.rollout_temperature")):
        with pytest.raises(UserError, match=key):
            load_config(overrides=["stage.name=grpo", "stage.init=/x", bad])
    cfg = load_config(overrides=["stage.name=grpo", "stage.init=/x", "stage.reward=./rm"])
    assert Path(cfg.stage.reward).is_absolute()  # a folder is resolved like stage.init; a rule's name is not
    assert load_config(overrides=["stage.name=grpo", "stage.init=/x"]).stage.reward == "exact_match"
