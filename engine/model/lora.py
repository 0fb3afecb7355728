"""LoRA (Hu et al., 2021): low-rank adapters applied to a built model from outside, base weights frozen.

A targeted Linear y = W x becomes y = W x + (alpha / r) B A dropout(x), with A (r, in) random and B (out, r) zero,
so the adapted model starts out equal to the base and only A and B (r x (in + out) numbers per layer) are trained.
DoRA (Liu et al., 2024; lora.dora) adds a trainable magnitude per output: W' = m * V / ||V||, V = W + (alpha / r) B A,
the norm taken over each output's row of W' (the paper's "column" in its (in -> out) notation), m starting at ||W||.
Parameter names of the base stay as they were (`blocks.0.attn.q_proj.weight`), the adapters sit beside them
(`...q_proj.lora_A`, `...q_proj.lora_B`). This module knows nothing about checkpoints (engine/lora_checkpoint.py).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.config import ConfigError, LoraConfig
from engine.model.lora_embedding import IDS, ROWS, apply_embedding_adapters, merge_embedding


class LoRALinear(nn.Linear):
    """An nn.Linear that takes over a base layer's weight (same tensor, same name) and adds a low-rank update."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float, dora: bool = False):
        nn.Module.__init__(self)
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight = base.weight
        self.bias = base.bias
        w = base.weight
        self.lora_A = nn.Parameter(torch.empty(rank, self.in_features, device=w.device, dtype=w.dtype))
        self.lora_B = nn.Parameter(torch.zeros(self.out_features, rank, device=w.device, dtype=w.dtype))
        # A as nn.Linear initialises its weight (uniform in +-1/sqrt(in)); B = 0 makes the update start at zero.
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.scaling = alpha / rank
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        # DoRA: m = ||W|| per output row, so W' = m * W / ||W|| = W at the start (B = 0)
        self.lora_magnitude = nn.Parameter(w.detach().float().norm(dim=1).to(w.dtype)) if dora else None
        self.adapter_enabled = True
        self.train(base.training)  # a new module starts in training mode; the layer it replaces may be in eval

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight)                                            # (B, T, out)
        if self.adapter_enabled:
            h = F.linear(self.lora_dropout(x), self.lora_A)                     # (B, T, r)
            y = y + F.linear(h, self.lora_B) * self.scaling                     # W x + s B A x
            if self.lora_magnitude is not None:
                # DoRA: (m / ||W + s B A||) (W x + s B A x), per output; the norm is differentiated through, not
                # detached (the paper detaches it to save memory on large models; here the exact gradient is cheap)
                v = self.weight + (self.lora_B @ self.lora_A) * self.scaling    # (out, in)
                y = y * (self.lora_magnitude / v.norm(dim=1))
        return y if self.bias is None else y + self.bias

    def delta_weight(self) -> torch.Tensor:
        """The update the adapter adds to W, shape (out, in), in fp32: (alpha / r) B A, or with DoRA
        m * V / ||V|| - W (V = W + (alpha / r) B A)."""
        delta = (self.lora_B.float() @ self.lora_A.float()) * self.scaling
        if self.lora_magnitude is None:
            return delta
        return dora_weight(self.weight.float(), delta, self.lora_magnitude.float()) - self.weight.float()

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, rank={self.lora_A.shape[0]}, scaling={self.scaling:g}"
                + (", dora" if self.lora_magnitude is not None else ""))


def dora_weight(w: torch.Tensor, delta: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
    """DoRA's merged weight m * V / ||V|| with V = W + delta, each output row rescaled to length m (fp32 in)."""
    v = w + delta                                                               # (out, in)
    return v * (magnitude / v.norm(dim=1)).unsqueeze(1)


def apply_lora(model: nn.Module, cfg: LoraConfig, base: dict | None = None,
               token_ids: list[int] | None = None) -> list[str]:
    """Freeze every parameter of `model` and put an adapter on each Linear named in cfg.targets, in place.
    `base` (where the frozen weights came from) is kept with the settings for the checkpoints (`lora_meta`).
    The embedding rows of `token_ids` (special and frequent tokens: the caller knows the tokenizer and the data)
    train too (engine/model/lora_embedding.py).

    Returns the adapted layers' names. A target that matches no Linear of this model (e.g. gate_proj in a gelu
    model, which has none) is a ConfigError naming lora.targets."""
    if cfg.rank <= 0:
        raise ValueError("apply_lora needs lora.rank > 0")
    model.requires_grad_(False)
    sites = [(parent, child_name, f"{parent_name}.{child_name}" if parent_name else child_name)
             for parent_name, parent in model.named_modules() for child_name, child in parent.named_children()
             if child_name in cfg.targets and type(child) is nn.Linear]
    missing = [t for t in cfg.targets if t != "embed" and not any(name == t for _, name, _ in sites)]
    if missing:
        present = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)}
                         - {"lm_head"})
        raise ConfigError("lora.targets", f"{', '.join(missing)} match no layer of this model",
                          f"this model's projections are: {', '.join(present)}")
    for parent, child_name, _ in sites:
        setattr(parent, child_name, LoRALinear(getattr(parent, child_name), cfg.rank, cfg.alpha, cfg.dropout,
                                               cfg.dora))
    rows = sorted(set(token_ids or []))
    if rows or "embed" in cfg.targets:
        apply_embedding_adapters(model, rows, cfg.rank if "embed" in cfg.targets else 0, cfg.alpha)
    model.lora_info = {"rank": cfg.rank, "alpha": cfg.alpha, "lr_ratio": cfg.lr_ratio, "dropout": cfg.dropout,
                       "targets": list(cfg.targets), "dora": cfg.dora,
                       "train_special_tokens": cfg.train_special_tokens,
                       "train_frequent_tokens": cfg.train_frequent_tokens, "token_ids": rows, "base": base}
    return [full for _, _, full in sites]


def lora_layers(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """Every module that adds a trainable update to a frozen weight: LoRALinear and the token-row layers."""
    for name, m in model.named_modules():
        if hasattr(m, "adapter_enabled"):
            yield name, m


def has_lora(model: nn.Module) -> bool:
    return next(lora_layers(model), None) is not None


ADAPTER_SUFFIXES = (".lora_A", ".lora_B", ".lora_magnitude", f".{ROWS}", f".{IDS}")


def adapter_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the adapters' tensors, on the CPU, under their names in the model (`blocks.0.attn.q_proj.lora_A`,
    `embed.token_rows` with its `embed.token_ids`). A tied head's rows are the embedding's and are stored once."""
    named = [*model.named_parameters(), *model.named_buffers()]  # each tensor once, under its first name
    return {k: v.detach().to("cpu").contiguous() for k, v in named if k.endswith(ADAPTER_SUFFIXES)}


def lora_meta(model: nn.Module) -> dict:
    """The settings and base of the model's adapters, as apply_lora recorded them (for config.json)."""
    return dict(model.lora_info)


def trainable_count(model: nn.Module) -> tuple[int, int]:
    """(parameters that train, all unique parameters)."""
    params = {id(p): p for p in model.parameters()}.values()
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def merge_into(base_state: dict[str, torch.Tensor], adapters: dict[str, torch.Tensor],
               scaling: float) -> dict[str, torch.Tensor]:
    """A full state dict: W + scaling * B A for every adapted `<layer>.weight` (DoRA: m * V / ||V|| of that, where
    the adapters hold `<layer>.lora_magnitude`; and W[ids] += d for trained token rows), computed in fp32 and
    stored in W's dtype. Every key of `adapters` must pair with a weight of
    `base_state` (KeyError names the first that does not)."""
    out = dict(base_state)
    layers = sorted({k.rsplit(".", 1)[0] for k in adapters})
    for layer in layers:
        if layer in ("embed", "lm_head"):  # the token embedding and an untied head: low-rank and/or rows
            merge_embedding(out, base_state, adapters, layer, scaling)
            continue
        w = base_state[f"{layer}.weight"]
        delta = scaling * (adapters[f"{layer}.lora_B"].float() @ adapters[f"{layer}.lora_A"].float())  # (out, in)
        magnitude = adapters.get(f"{layer}.lora_magnitude")
        merged = w.float() + delta if magnitude is None else dora_weight(w.float(), delta, magnitude.float())
        out[f"{layer}.weight"] = merged.to(w.dtype)
    return out


@contextlib.contextmanager
def adapters_disabled(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block the model computes as its frozen base: every adapter is bypassed (restored after)."""
    layers = [m for _, m in lora_layers(model)]
    before = [m.adapter_enabled for m in layers]
    for m in layers:
        m.adapter_enabled = False
    try:
        yield model
    finally:
        for m, on in zip(layers, before, strict=True):
            m.adapter_enabled = on


class BaseModelView:
    """The frozen base of a LoRA policy, callable like the model: its forward runs the SAME modules with the
    adapters bypassed, in eval mode and without gradients. An alignment stage uses it as its reference, so no
    second copy of the weights is held."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.cfg = model.cfg

    @torch.no_grad()
    def __call__(self, *args, **kwargs):
        was_training = self.model.training
        self.model.eval()  # the reference never drops out
        try:
            with adapters_disabled(self.model):
                return self.model(*args, **kwargs)
        finally:
            self.model.train(was_training)

    def eval(self) -> BaseModelView:
        return self

    def parameters(self) -> Iterator[nn.Parameter]:
        """None of its own: every weight it uses is the policy's."""
        return iter(())
