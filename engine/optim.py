"""AdamW with decay only on matrices, and the learning-rate schedules (warm-up + cosine / WSD / constant).

It knows nothing about stages or data: the loop asks `lr_at(step)` and sets it on every param group.
"""

from __future__ import annotations

import inspect
import math

import torch

from engine.config import OptimConfig


def build_optimizer(model: torch.nn.Module, cfg: OptimConfig, device: torch.device) -> torch.optim.AdamW:
    """Weight decay on 2-D weights of linear layers only: norms and the (tied) embedding are not decayed."""
    decay, no_decay, seen = [], [], set()
    for name, p in model.named_parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        is_embedding = "embed" in name or "lm_head" in name
        (decay if p.dim() >= 2 and not is_embedding else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # The fused kernel also exists for the CPU, where the default is a per-tensor Python loop of ~10 ops each.
    fused_ok = device.type in ("cuda", "mps", "cpu") and "fused" in inspect.signature(torch.optim.AdamW).parameters
    extra = {"fused": True} if fused_ok else {}
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, **extra)


def lr_at(step: int, total_steps: int, cfg: OptimConfig) -> float:
    """Learning rate for optimizer step `step` (0-based)."""
    peak, floor = cfg.lr, cfg.lr * cfg.min_lr_ratio
    warmup = min(cfg.warmup_steps, max(total_steps - 1, 0))
    if step < warmup:
        return peak * (step + 1) / warmup
    if cfg.schedule == "constant":
        return peak
    if cfg.schedule == "wsd":
        decay_steps = max(1, int(total_steps * cfg.decay_fraction))
        decay_start = total_steps - decay_steps
        if step < decay_start:
            return peak
        frac = (step - decay_start) / decay_steps
        return peak + (floor - peak) * min(frac, 1.0)
    span = max(1, total_steps - warmup)
    frac = min((step - warmup) / span, 1.0)
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * frac))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for g in optimizer.param_groups:
        g["lr"] = lr
