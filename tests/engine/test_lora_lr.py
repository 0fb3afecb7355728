"""lora.lr_ratio: the adapters' groups take lr_ratio x optim.lr through the schedule, a group a stage adds later
does not take lora.lr_ratio, the first Adam step moves the adapters lr_ratio times as far, a bad ratio is named by
key, and bench/compare.py's lr column names the multiplier."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from engine.config import ConfigError, LoraConfig, OptimConfig
from engine.model.gpt import GPT
from engine.model.lora import apply_lora
from engine.optim import build_optimizer, set_lr


def lora_model(model_cfg, ratio: float) -> GPT:
    torch.manual_seed(0)
    model = GPT(model_cfg())
    apply_lora(model, LoraConfig(rank=4, lr_ratio=ratio), token_ids=[1, 2])
    with torch.no_grad():  # B != 0, so A receives a gradient too (fresh adapters start at B = 0)
        for name, p in model.named_parameters():
            if name.endswith("lora_B"):
                p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1)) * 0.05)
    return model


@pytest.mark.parametrize("name", ["adamw", "muon"])
def test_adapter_groups_follow_the_schedule_at_lr_ratio_and_a_later_group_at_optim_lr(model_cfg, name):
    plain, opt = (build_optimizer(lora_model(model_cfg, r), OptimConfig(name=name, lr=1e-3), torch.device("cpu"))
                  for r in (1.0, 3.0))
    assert {g["kind"] for g in opt.param_groups} >= {"matrix", "embedding"}  # adapters and token rows
    # each kind's own scale (Muon's matrices: 3x) times the ratio
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([3 * g["lr"] for g in plain.param_groups])
    head = torch.nn.Linear(4, 1)  # a stage's own weights (PPO's value head) join after the build
    opt.add_param_group({"params": list(head.parameters()), "kind": "matrix"})
    set_lr(opt, 5e-4)
    set_lr(plain, 5e-4)
    assert [g["lr"] for g in opt.param_groups[:-1]] == pytest.approx([3 * g["lr"] for g in plain.param_groups])
    assert opt.param_groups[-1]["lr"] == pytest.approx(5e-4)


def test_the_first_adam_step_moves_the_adapters_lr_ratio_times_as_far(model_cfg):
    moves = []
    for ratio in (1.0, 3.0):
        model = lora_model(model_cfg, ratio)
        opt = build_optimizer(model, OptimConfig(lr=1e-3, weight_decay=0.0), torch.device("cpu"))
        before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        x = torch.randint(0, model.cfg.vocab_size, (2, 16), generator=torch.Generator().manual_seed(1))
        _, loss = model(x, x)
        loss.backward()
        opt.step()
        moves.append({n: (p.detach() - before[n]).abs().sum().item() for n, p in model.named_parameters()
                      if p.requires_grad})
    assert moves[0].keys() == moves[1].keys() and any(k.endswith("lora_B") for k in moves[0])
    for name, moved in moves[0].items():
        assert moved > 0, name
        assert moves[1][name] == pytest.approx(3 * moved, rel=1e-3), name


@pytest.mark.parametrize("ratio", [0.0, -1.0, float("inf")])
def test_a_ratio_that_is_not_positive_and_finite_is_named_by_key(ratio):
    with pytest.raises(ConfigError) as e:
        LoraConfig(rank=4, lr_ratio=ratio)
    assert e.value.key == "lora.lr_ratio"


def test_the_comparison_table_names_the_adapters_multiplier(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_compare_lr", Path(__file__).parents[2] / "bench/compare.py")
    compare = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = compare  # its dataclasses look their module up there
    spec.loader.exec_module(compare)
    run = tmp_path / "run.yaml"
    run.write_text("optim: {name: adamw, lr: 1.0e-3}\nlora: {rank: 4, lr_ratio: 3.0}\n")
    assert compare.row_lr(run) == "1e-3 x3 adapters"
    run.write_text("optim: {name: muon, lr: 1.0e-3}\nlora: {rank: 0, lr_ratio: 3.0}\n")  # LoRA off
    assert compare.row_lr(run) == "1e-3 x3 matrices"
    sys.modules.pop(spec.name, None)
