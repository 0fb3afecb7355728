"""engine.optim: learning-rate schedules (engine.estimate.lr_at) and the AdamW parameter groups by kind."""

from __future__ import annotations

import pytest
import torch

from engine.config import OptimConfig
from engine.model.gpt import GPT
from engine.optim import build_optimizer, lr_at, param_groups, set_lr

LR = 1e-3


def opt(**kw) -> OptimConfig:
    return OptimConfig(**{"lr": LR, "min_lr_ratio": 0.1, "warmup_steps": 10, **kw})


@pytest.mark.parametrize("schedule", ["cosine", "linear", "wsd", "constant"])
def test_warmup_is_linear_from_lr_over_warmup_to_lr(schedule):
    c = opt(schedule=schedule)
    lrs = [lr_at(s, 100, c) for s in range(10)]
    assert lrs[0] == pytest.approx(LR / 10)
    assert lrs[-1] == pytest.approx(LR)
    steps = [b - a for a, b in zip(lrs, lrs[1:], strict=False)]
    assert all(d == pytest.approx(LR / 10) for d in steps)


def test_cosine_peaks_after_warmup_decreases_and_ends_at_min_lr():
    c = opt(schedule="cosine")
    total = 200
    lrs = [lr_at(s, total, c) for s in range(total)]
    assert lrs[10] == pytest.approx(LR)
    assert all(b <= a + 1e-15 for a, b in zip(lrs[10:], lrs[11:], strict=False))
    assert lrs[-1] == pytest.approx(0.1 * LR, rel=1e-3)
    assert lr_at(total, total, c) == pytest.approx(0.1 * LR)
    assert lr_at(total + 50, total, c) == pytest.approx(0.1 * LR)  # past the end stays at the floor
    mid = 10 + (total - 10) // 2
    assert lrs[mid] == pytest.approx(0.55 * LR, rel=0.02)  # halfway down the cosine


def test_wsd_is_flat_then_decays_in_the_last_fraction():
    c = opt(schedule="wsd", decay_fraction=0.2)
    total = 100
    lrs = [lr_at(s, total, c) for s in range(total)]
    assert all(v == pytest.approx(LR) for v in lrs[10:80])
    tail = lrs[80:]
    assert all(b < a for a, b in zip(tail, tail[1:], strict=False))
    assert tail[-1] == pytest.approx(0.1 * LR, abs=LR * 0.9 / 20 + 1e-12)
    assert lr_at(total, total, c) == pytest.approx(0.1 * LR)


def test_linear_falls_in_a_straight_line_from_lr_to_min_lr():
    c = opt(schedule="linear")
    total = 110                                    # 10 warm-up steps, then 100 of decay
    assert lr_at(10, total, c) == pytest.approx(LR)
    assert lr_at(60, total, c) == pytest.approx(0.55 * LR)        # halfway: (1 + 0.1) / 2
    assert lr_at(35, total, c) == pytest.approx(0.775 * LR)       # a quarter of the way down
    lrs = [lr_at(s, total, c) for s in range(10, total)]
    diffs = [b - a for a, b in zip(lrs, lrs[1:], strict=False)]
    assert all(d == pytest.approx(-0.9 * LR / 100) for d in diffs)
    assert lr_at(total, total, c) == pytest.approx(0.1 * LR)


def test_constant_stays_at_lr():
    c = opt(schedule="constant")
    assert {round(lr_at(s, 50, c), 12) for s in range(10, 50)} == {LR}


def test_no_warmup_starts_at_lr():
    assert lr_at(0, 100, opt(warmup_steps=0)) == pytest.approx(LR)


def test_warmup_longer_than_the_run_still_reaches_lr():
    c = opt(warmup_steps=1000, schedule="constant")
    lrs = [lr_at(s, 5, c) for s in range(5)]
    assert lrs[-1] == pytest.approx(LR) and all(0 < v <= LR for v in lrs)
    assert lr_at(0, 1, c) == pytest.approx(LR)


@pytest.mark.parametrize("tied", [True, False])
def test_groups_are_tagged_by_module_kind_and_only_matrices_decay(model_cfg, tied):
    model = GPT(model_cfg(vocab_size=64, qk_norm=True, tie_embeddings=tied))
    optimizer = build_optimizer(model, opt(weight_decay=0.1), torch.device("cpu"))
    names = {id(p): n for n, p in model.named_parameters()}
    groups = {g["kind"]: g for g in optimizer.param_groups}
    assert list(groups) == (["matrix", "embedding", "norm"] if tied else ["matrix", "embedding", "head", "norm"])
    kinds = {kind: {names[id(p)] for p in g["params"]} for kind, g in groups.items()}
    assert all(n.endswith("_proj.weight") for n in kinds["matrix"]) and len(kinds["matrix"]) == 2 * 7
    assert kinds["embedding"] == {"embed.weight"}
    assert kinds.get("head", {"lm_head.weight"}) == {"lm_head.weight"}
    assert all(n.endswith("norm.weight") for n in kinds["norm"])
    assert any(n.endswith("q_norm.weight") for n in kinds["norm"])
    assert {k: g["weight_decay"] for k, g in groups.items()} == {k: 0.1 if k == "matrix" else 0.0 for k in groups}
    # Every trainable parameter is in exactly one group, a tied head once.
    ids = [id(p) for g in optimizer.param_groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert sum(p.numel() for g in optimizer.param_groups for p in g["params"]) == model.num_params()


def test_kinds_come_from_module_types_not_names(model_cfg):
    """A layer named like an embedding is still a matrix; a bias is a norm/bias whatever its module is called."""
    model = GPT(model_cfg(vocab_size=64))
    model.blocks[0].attn.embed_like = torch.nn.Linear(4, 4, bias=True)
    kinds = param_groups(model)
    layer = model.blocks[0].attn.embed_like
    assert any(p is layer.weight for p in kinds["matrix"]) and any(p is layer.bias for p in kinds["norm"])


def test_frozen_parameters_are_left_out(model_cfg):
    model = GPT(model_cfg(vocab_size=64))
    model.embed.weight.requires_grad_(False)
    optimizer = build_optimizer(model, opt(), torch.device("cpu"))
    assert all(p.requires_grad for g in optimizer.param_groups for p in g["params"])
    assert "embedding" not in [g["kind"] for g in optimizer.param_groups]


def test_optimizer_uses_the_config_and_set_lr_scales_each_group(model_cfg):
    model = GPT(model_cfg(vocab_size=64))
    optimizer = build_optimizer(model, opt(beta1=0.8, beta2=0.99, eps=1e-6), torch.device("cpu"))
    assert isinstance(optimizer, torch.optim.AdamW)
    assert all(g["betas"] == (0.8, 0.99) and g["eps"] == 1e-6 for g in optimizer.param_groups)
    optimizer.param_groups[0]["lr_scale"] = 0.5
    set_lr(optimizer, 0.125)
    assert [g["lr"] for g in optimizer.param_groups] == [0.0625, 0.125, 0.125]
