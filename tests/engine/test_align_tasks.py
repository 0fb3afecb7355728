"""stage.tasks limits the RL stages' training prompts to some task families (a curriculum on the families a model
partly solves): every rollout draws only from them, and a list that matches no prompt is refused before training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine import checkpoint as ckpt
from engine.commands import CommandQueue
from engine.config import ConfigError, StageConfig, load_config
from engine.errors import UserError
from engine.events import NullSink
from engine.hardware import init_runtime
from engine.model.gpt import GPT
from engine.train.loop import Trainer
from engine.train.registry import make_stage
from engine.train.setup import build_parts

TOY = ["model.d_model=32", "model.n_layer=2", "model.n_head=4", "model.n_kv_head=2", "model.max_seq_len=64",
       "run.task_eval_items=0", "run.sample_prompts=[]", "hardware.device=cpu", "hardware.precision=fp32",
       "hardware.threads=1", "data.seq_len=64", "stage.rollout_tokens=4", "run.batch_size=8", "optim.warmup_steps=0",
       "stage.reward=exact_match"]
WORDS = ["cat", "dog", "sun", "tree"]


@pytest.fixture
def init_dir(tmp_path, tok, model_cfg) -> Path:
    torch.manual_seed(0)
    cfg = model_cfg(vocab_size=tok.vocab_size)
    return ckpt.save_checkpoint(tmp_path / "init" / "checkpoints", 0, GPT(cfg), cfg, tok.to_json(), None,
                                {"stage": "sft"})


@pytest.fixture
def prompts(tmp_path, jsonl) -> Path:
    rows = [{"prompt": f"Say {w} {i}.", "answer": w, "task": "say"} for i in range(6) for w in WORDS]
    rows += [{"prompt": f"Spell {w} {i}.", "answer": w, "task": "spell"} for i in range(6) for w in WORDS]
    return jsonl(tmp_path / "prompts.jsonl", rows)


def trainer(tmp_path, workspace, init_dir, data, stage, *more) -> Trainer:
    cfg = load_config(overrides=[*TOY, f"stage.name={stage}", f"stage.init={init_dir}", f"data.train=[{data}]", *more])
    rt = init_runtime(cfg.hardware, cfg.run.seed)
    parts = build_parts(cfg, make_stage(stage), workspace, NullSink(), rt, init_dir, origin=init_dir)
    (tmp_path / stage).mkdir(exist_ok=True)
    return Trainer(parts, rt, tmp_path / stage, NullSink(), CommandQueue())


@pytest.mark.parametrize("stage", ["grpo", "ppo"])
def test_rollouts_draw_only_the_chosen_families(tmp_path, workspace, init_dir, prompts, stage):
    t = trainer(tmp_path, workspace, init_dir, prompts, stage, "stage.tasks=[spell]", "stage.group_size=4")
    kept = {t.stage.train_prompts[int(i)].task for i in t.stage.train_items}
    assert kept == {"spell"} and len(t.stage.train_items) < len(t.p.train_items)
    for _ in range(3):
        batch = next(t.train_batches)
        rows = t.p.tok.decode(batch["x"].flatten().tolist())
        assert "Spell" in rows and "Say" not in rows


def test_tasks_that_match_no_prompt_are_refused_naming_the_key_and_the_families(tmp_path, workspace, init_dir,
                                                                                   prompts):
    with pytest.raises(UserError) as e:
        trainer(tmp_path, workspace, init_dir, prompts, "grpo", "stage.tasks=[add]")
    assert "stage.tasks" in str(e.value) and "say, spell" in e.value.hint and "stage.tasks=[]" in e.value.hint


def test_prompts_without_families_ignore_the_filter(tmp_path, workspace, init_dir, jsonl):
    plain = jsonl(tmp_path / "plain.jsonl", [{"prompt": f"Say {w} {i}.", "answer": w} for i in range(6) for w in WORDS])
    t = trainer(tmp_path, workspace, init_dir, plain, "grpo", "stage.tasks=[spell]", "stage.group_size=4")
    assert len(t.stage.train_items) == len(t.p.train_items)      # the preset's filter does not refuse user data


def test_tasks_must_be_names():
    with pytest.raises(ConfigError, match="stage.tasks"):
        StageConfig(name="grpo", init="x", reward="exact_match", tasks=[""])
