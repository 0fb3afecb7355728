"""LoRA checkpoints and runs on a toy model: adapter-only step folders that name their base by hash, load-time
merge and `lora merge` giving the base + adapters' logits, a wrong or missing base refused, exact resume of a LoRA
SFT run, and DPO whose reference is the policy's base with its adapters off (no second model)."""

from __future__ import annotations

import gc
import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from engine import checkpoint as ckpt
from engine.commands import CommandQueue
from engine.config import LoraConfig, load_config
from engine.errors import UserError
from engine.events import EventSink, NullSink
from engine.hardware import init_runtime
from engine.lora_checkpoint import base_identity, file_sha256, merge_checkpoint, special_token_ids
from engine.model.gpt import GPT
from engine.model.lora import BaseModelView, adapter_state_dict, apply_lora, merge_into
from engine.train.registry import make_stage
from engine.train.run import run_training
from engine.train.setup import build_parts

TOY = ["run.task_eval_items=0", "run.sample_prompts=[]", "hardware.device=cpu", "hardware.precision=fp32",
       "hardware.threads=1", "data.seq_len=48", "run.batch_size=4", "run.eval_every=0", "run.log_every=1",
       "run.eval_batches=2", "optim.schedule=constant", "optim.warmup_steps=0"]


@pytest.fixture
def base_dir(tmp_path, tok, model_cfg) -> Path:
    """A toy full checkpoint: random weights, the session tokenizer."""
    torch.manual_seed(1)
    cfg = model_cfg()
    return ckpt.save_checkpoint(tmp_path / "base" / "checkpoints", 0, GPT(cfg), cfg, tok.to_json(), None,
                                {"stage": "sft"})


def adapted(base_dir: Path, tok, rank: int = 4, dora: bool = False) -> GPT:
    """The base with rank-`rank` adapters and special-token rows that are non-zero (so they change the model)."""
    model = GPT(ckpt.model_config_of(base_dir))
    ckpt.load_weights(model, base_dir)
    apply_lora(model, LoraConfig(rank=rank, dora=dora), base=base_identity(base_dir),
               token_ids=special_token_ids(tok))
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("lora_B", "token_rows")):
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
            elif name.endswith("lora_magnitude"):
                p.mul_(1 + 0.2 * torch.randn(p.shape, generator=g))
    return model.eval()


def save_adapters(model: GPT, tmp_path: Path, tok) -> Path:
    return ckpt.save_checkpoint(tmp_path / "lora" / "checkpoints", 7, model, model.cfg, tok.to_json(), None,
                                {"stage": "sft"})


def logits_of(folder: Path, x: torch.Tensor) -> torch.Tensor:
    model = GPT(ckpt.model_config_of(folder)).eval()
    ckpt.load_weights(model, folder)
    return model(x)[0]


@pytest.mark.parametrize("dora", [False, True])
def test_adapter_checkpoint_holds_only_adapters_names_its_base_and_loads_merged(tmp_path, tok, base_dir, dora):
    model = adapted(base_dir, tok, dora=dora)
    folder = save_adapters(model, tmp_path, tok)
    saved = load_file(str(folder / ckpt.WEIGHTS))
    kinds = ("lora_A", "lora_B", "lora_magnitude") if dora else ("lora_A", "lora_B")
    assert set(saved) == set(adapter_state_dict(model)) and {k.rsplit(".", 1)[-1] for k in saved
                                                             if not k.startswith("embed.")} == set(kinds)
    assert saved["embed.token_ids"].tolist() == special_token_ids(tok) and "embed.token_rows" in saved
    info = json.loads((folder / ckpt.CONFIG).read_text())["lora"]
    assert info["rank"] == 4 and info["dora"] is dora and info["base"]["path"] == str(base_dir.resolve())
    assert info["base"]["sha256"] == file_sha256(base_dir / ckpt.WEIGHTS)
    x = torch.randint(0, 512, (2, 20))
    x[:, :2] = torch.tensor([tok.im_start_id, tok.im_end_id])  # the trained rows count in the logits compared
    expected = model(x)[0]
    assert torch.allclose(logits_of(folder, x), expected, atol=1e-5)  # what chat / eval / serve / export load

    out = merge_checkpoint(folder, tmp_path / "merged")
    meta = json.loads((out / ckpt.CONFIG).read_text())
    assert "lora" not in meta and meta["merged_from"]["base"]["sha256"] == info["base"]["sha256"]
    assert (out / ckpt.TOKENIZER).read_text() == tok.to_json() and not (out / ckpt.STATE).exists()
    assert torch.allclose(logits_of(out, x), expected, atol=1e-5)
    shutil.rmtree(base_dir)  # the merged folder stands alone
    assert torch.allclose(logits_of(out, x), expected, atol=1e-5)
    with pytest.raises(UserError, match="is gone"):
        logits_of(folder, x)


def test_a_replaced_base_is_detected_by_its_hash(tmp_path, tok, base_dir, model_cfg):
    folder = save_adapters(adapted(base_dir, tok), tmp_path, tok)
    torch.manual_seed(2)  # the base retrained: same folder, other weights
    ckpt.save_checkpoint(base_dir.parent, 0, GPT(model_cfg()), model_cfg(), tok.to_json(), None, {"stage": "sft"})
    with pytest.raises(UserError, match="not the one these LoRA adapters were trained on"):
        logits_of(folder, torch.zeros(1, 4, dtype=torch.long))


def test_merge_refuses_a_full_checkpoint_and_a_used_out_folder(tmp_path, tok, base_dir):
    with pytest.raises(UserError, match="not a LoRA adapter checkpoint"):
        merge_checkpoint(base_dir, tmp_path / "m")
    folder = save_adapters(adapted(base_dir, tok), tmp_path, tok)
    used = tmp_path / "used"
    used.mkdir()
    (used / "mine.txt").write_text("keep")
    with pytest.raises(UserError, match="not empty"):
        merge_checkpoint(folder, used)
    assert (used / "mine.txt").read_text() == "keep"


def chats(n: int = 60) -> list[dict]:
    return [{"messages": [{"role": "user", "content": f"What is {i % 17} + {i % 5}?"},
                          {"role": "assistant", "content": f"It is {i % 17 + i % 5}."}]} for i in range(n)]


def sft_config(data: Path, tok_dir: Path, base: Path, steps: int, *more: str):
    return load_config(overrides=[*TOY, "stage.name=sft", f"stage.init={base}", f"data.train=[{data}]",
                                  f"tokenizer.path={tok_dir}", "run.checkpoint_every=0", f"run.max_steps={steps}",
                                  "lora.rank=4", "lora.dropout=0.1", *more])


def train(cfg, workspace: Path, out: Path | None = None, resume: Path | None = None, more: dict | None = None):
    sink = EventSink()  # to events.jsonl only
    try:
        status = run_training(cfg, workspace, sink, CommandQueue(), out=str(out) if out else None,
                              resume=str(resume) if resume else None, resume_request=more)
    finally:
        sink.close()
    assert status == "completed"


@pytest.mark.slow
@pytest.mark.parametrize("dora", [False, True])
def test_a_lora_run_resumes_exactly(tmp_path, workspace, tok_dir, base_dir, jsonl, dora):
    data = jsonl(tmp_path / "chat.jsonl", chats())
    full, split = tmp_path / "full", tmp_path / "split"
    more = [f"lora.dora={str(dora).lower()}"]
    train(sft_config(data, tok_dir, base_dir, 6, *more), workspace, out=full)
    train(sft_config(data, tok_dir, base_dir, 3, *more), workspace, out=split)
    train(sft_config(data, tok_dir, base_dir, 6, *more), workspace, resume=split, more={"run": {"max_steps": 6}})
    a = load_file(str(full / "checkpoints" / "step-000006" / ckpt.WEIGHTS))
    b = load_file(str(split / "checkpoints" / "step-000006" / ckpt.WEIGHTS))
    kinds = ("lora_A", "lora_B", "lora_magnitude") if dora else ("lora_A", "lora_B")
    assert set(a) == set(b) and {k for k in a if not k.endswith(kinds)} == {"embed.token_rows", "embed.token_ids"}
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(v, torch.zeros_like(v)) for k, v in a.items() if k.endswith("lora_B"))  # it trained
    # the base stayed frozen: the merged weights differ from the base only in the adapted layers and special rows
    merged, base = ckpt.read_weights(full / "checkpoints" / "step-000006"), ckpt.read_weights(base_dir)
    ids = a["embed.token_ids"]
    others = torch.ones(base["embed.weight"].shape[0], dtype=torch.bool)
    others[ids] = False
    assert torch.equal(merged["embed.weight"][others], base["embed.weight"][others])
    assert not torch.equal(merged["embed.weight"][ids], base["embed.weight"][ids])  # <|im_end|>'s row learned
    assert torch.equal(merged["blocks.0.attn_norm.weight"], base["blocks.0.attn_norm.weight"])


def pairs(n: int = 24) -> list[dict]:
    return [{"prompt": f"What is {i * 3 % 17} + {i * 5 % 13}?", "chosen": f"{i * 3 % 17 + i * 5 % 13}",
             "rejected": f"{i * 3 % 17 + i * 5 % 13 + 1 + i % 3}"} for i in range(n)]


def dpo_parts(tmp_path, workspace, base_dir, data, *more):
    cfg = load_config(overrides=[*TOY, "stage.name=dpo", f"stage.init={base_dir}", f"data.train=[{data}]",
                                 "stage.rpo_alpha=0", *more])
    rt = init_runtime(cfg.hardware, cfg.run.seed)
    return build_parts(cfg, make_stage("dpo"), workspace, NullSink(), rt, base_dir, origin=base_dir)


def live_gpts() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is GPT)


def test_dpo_with_lora_holds_no_reference_copy_and_matches_the_frozen_copy_loss(tmp_path, workspace, base_dir,
                                                                                  jsonl):
    data = jsonl(tmp_path / "pairs.jsonl", pairs())
    before = live_gpts()
    lora = dpo_parts(tmp_path, workspace, base_dir, data, "lora.rank=4")
    assert live_gpts() == before + 1  # the policy only: the reference is a view of it
    assert isinstance(lora.stage.reference, BaseModelView) and lora.stage.reference.model is lora.model
    before = live_gpts()
    copy = dpo_parts(tmp_path, workspace, base_dir, data)
    assert live_gpts() == before + 2  # without LoRA: the policy and a frozen copy

    batch = next(lora.stage.batches(lora.train_set, lora.train_items, lora.cfg, lora.tok, shuffle=False))
    n_pairs = int(lora.stage.count_units(batch))
    step0 = float(lora.stage.loss(lora.model, batch)[0].detach()) / n_pairs
    assert step0 == pytest.approx(math.log(2), abs=1e-6)
    assert step0 == pytest.approx(float(copy.stage.loss(copy.model, batch)[0].detach()) / n_pairs, abs=1e-6)

    # moved adapters: the frozen-copy DPO with the same (merged) policy gives the same loss
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for name, p in lora.model.named_parameters():
            if name.endswith("lora_B"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    merged = merge_into({k: v for k, v in ckpt.read_weights(base_dir).items()}, adapter_state_dict(lora.model),
                        lora.cfg.lora.scaling)
    merged["lm_head.weight"] = merged["embed.weight"]
    copy.model.load_state_dict(merged)
    with_view = lora.stage.loss(lora.model, batch)[0].detach()
    with_copy = copy.stage.loss(copy.model, batch)[0].detach()
    assert float(with_view) / n_pairs != pytest.approx(math.log(2), abs=1e-3)
    assert float(with_view) == pytest.approx(float(with_copy), rel=1e-5)
