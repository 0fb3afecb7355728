"""bench/iterated_rlhf.py's round bookkeeping and per-family means, and the reward stage continuing a reward model
(--init from a reward checkpoint keeps its trained head), which the iterated rounds rely on."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from bench.iterated_rlhf import per_family, round_plan
from engine import checkpoint as ckpt
from engine.commands import CommandQueue
from engine.config import load_config
from engine.errors import UserError
from engine.events import NullSink
from engine.hardware import init_runtime
from engine.train.registry import make_stage
from engine.train.run import run_training
from engine.train.setup import build_parts

TOY = ["run.task_eval_items=0", "run.sample_prompts=[]", "hardware.device=cpu", "hardware.precision=fp32",
       "hardware.threads=1", "data.seq_len=48", "run.batch_size=4", "run.eval_every=0", "stage.rm_negatives=0"]


def test_each_round_trains_on_the_last_rounds_outputs_and_the_last_round_trains_no_reward_model():
    plan = round_plan(3)
    assert [(p["policy_in"], p["rm_in"], p["policy_out"]) for p in plan] == [
        ("p0", "rm0", "p1"), ("p1", "rm1", "p2"), ("p2", "rm2", "p3")]
    assert plan[1]["pairs_in"] == ["pairs-1.jsonl", "pairs-2.jsonl"] and plan[1]["rm_out"] == "rm2"
    assert "rm_out" not in plan[2] and "pairs_out" not in plan[2]
    assert round_plan(1) == [{"round": 1, "policy_in": "p0", "rm_in": "rm0", "policy_out": "p1"}]


def test_per_family_means_and_overall_mean():
    items = [{"task": "copy"}, {"task": "unit"}, {"task": "copy"}, {"task": "unit"}]
    assert per_family(items, [1.0, 0.0, 0.0, 0.0]) == {"copy": 0.5, "unit": 0.0, "all": 0.25}


def test_reward_stage_from_a_reward_checkpoint_continues_its_head(tmp_path, workspace, init_dir, jsonl):
    sft = init_dir
    data = jsonl(tmp_path / "pairs.jsonl", [{"prompt": f"What is {i} + 1?", "chosen": f"{i + 1}",
                                             "rejected": f"{i + 2}"} for i in range(12)])
    rm_cfg = load_config(overrides=[*TOY, "stage.name=reward", f"stage.init={sft}", f"data.train=[{data}]",
                                    "run.max_steps=2"])
    assert run_training(rm_cfg, workspace, NullSink(), CommandQueue(), out=str(tmp_path / "rm")) == "completed"
    rm_step = ckpt.resolve_checkpoint(tmp_path / "rm")
    saved = load_file(str(rm_step / "reward_head.safetensors"))

    more = load_config(overrides=[*TOY, "stage.name=reward", f"stage.init={rm_step}", f"data.train=[{data}]"])
    stage = make_stage("reward")
    build_parts(more, stage, workspace, NullSink(), init_runtime(more.hardware, 0), rm_step, origin=rm_step)
    torch.testing.assert_close(stage.head.state_dict(), saved)   # not a fresh random head

    fresh = make_stage("reward")   # from an SFT checkpoint the head starts fresh
    build_parts(rm_cfg, fresh, workspace, NullSink(), init_runtime(rm_cfg.hardware, 0), sft, origin=sft)
    assert not torch.equal(fresh.head.weight, saved["weight"])

    # a damaged head in the checkpoint continued from: a clear error naming the file, no traceback
    (rm_step / "reward_head.safetensors").write_bytes(b"\x00\x01 not safetensors")
    with pytest.raises(UserError, match="reward_head.safetensors: cannot read the reward head"):
        build_parts(more, make_stage("reward"), workspace, NullSink(), init_runtime(more.hardware, 0), rm_step,
                    origin=rm_step)
