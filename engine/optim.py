"""The optimizer registry (`optim.name`) and the parameter groups it is built on, tagged by kind.

Groups are made from module types: the 2-D weights of the blocks' linear layers are `matrix` (decayed), the
token embedding `embedding`, the output projection `head`, norm scales and biases `norm`. Each group carries an
`lr_scale`; the loop sets every group to `lr_at(step) * lr_scale` (schedule math in engine/estimate.py), so
each optimizer's own learning rate follows the same schedule shape. It knows nothing about stages or data.
The loop's two hooks for optimizers that need them: `eval_weights` (schedule-free) and `second_order` (Sophia).
"""

from __future__ import annotations

import contextlib
import inspect
import warnings
from collections.abc import Callable, Iterator

import torch
import torch.nn as nn

from engine.config import OPTIMIZERS, OptimConfig
from engine.errors import UserError
from engine.estimate import lr_at  # noqa: F401 - re-exported: the loop's schedule
from engine.model.gpt import RMSNorm
from engine.model.lora import lora_layers
from engine.optim_muon import MuonWithAdamW

KINDS = ("matrix", "embedding", "head", "norm")
NORMS = (RMSNorm, nn.LayerNorm, nn.RMSNorm)
# Lion's sign updates are larger than Adam's, so its paper takes a 3-10x smaller lr and a 3-10x larger weight
# decay (their product, the decay per step, unchanged): optim.lr stays AdamW's number for every optimizer.
LION_LR_SCALE = 1 / 3
# Muon's matrices take optim.lr times this, over their AdamW-matched update RMS (see _muon). Tiny preset, 200
# steps at batch 16 x 256: val loss 1.73 at 1x, 1.37 at 3x, AdamW 1.44 (at batch 4 x 128: 2.76, 2.81, 3.28).
MUON_LR_SCALE = 3.0
# SophiaH (pytorch-optimizer) steps lr * clip(m / h, -rho, rho). With lr = s * optim.lr / rho that is the Sophia
# paper's s * optim.lr * clip(m / (rho h), 1): at most s * optim.lr per weight. Its Hessian average (beta2 0.99,
# an estimate every k steps) stays small for hundreds of steps, so early on nearly every weight is clipped and
# Sophia moves like Lion (sign of the momentum): it takes Lion's third of the lr (tiny preset at batch 4 x 128,
# 150 steps: val loss 5.45 at s = 1, 4.22 at s = 1/3, 5.15 at s = 0.1; AdamW 3.28).
SOPHIA_RHO = 0.04
SOPHIA_LR_SCALE = 1 / 3


def param_groups(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """Trainable parameters by kind, from the module that owns each one (a tied head counts once, as embedding)."""
    head = getattr(model, "lm_head", None)
    groups: dict[str, list[nn.Parameter]] = {k: [] for k in KINDS}
    seen: set[int] = set()
    for module in model.modules():
        for p in module.parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            if isinstance(module, nn.Embedding):
                kind = "embedding"
            elif module is head:
                kind = "head"
            elif isinstance(module, NORMS) or p.dim() < 2:  # norm scales, biases
                kind = "norm"
            else:
                kind = "matrix"
            groups[kind].append(p)
    return groups


def tagged_groups(model: nn.Module, cfg: OptimConfig, lr_scale: float = 1.0, decay_scale: float = 1.0) -> list[dict]:
    """One optimizer param group per non-empty kind; weight decay on matrices only."""
    return [{"params": params, "kind": kind, "lr_scale": lr_scale, "lr": cfg.lr * lr_scale,
             "weight_decay": cfg.weight_decay * decay_scale if kind == "matrix" else 0.0}
            for kind, params in param_groups(model).items() if params]


def _fused(device: torch.device) -> dict:
    # The fused kernel also exists for the CPU, where the default is a per-tensor Python loop of ~10 ops each.
    ok = device.type in ("cuda", "mps", "cpu") and "fused" in inspect.signature(torch.optim.AdamW).parameters
    return {"fused": True} if ok else {}


def _adamw(model: nn.Module, cfg: OptimConfig, device: torch.device) -> torch.optim.Optimizer:
    return torch.optim.AdamW(tagged_groups(model, cfg), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps,
                             **_fused(device))


def _lion(model: nn.Module, cfg: OptimConfig, device: torch.device) -> torch.optim.Optimizer:
    from lion_pytorch import Lion
    return Lion(tagged_groups(model, cfg, LION_LR_SCALE, 1 / LION_LR_SCALE), lr=cfg.lr * LION_LR_SCALE)


def _schedulefree(model: nn.Module, cfg: OptimConfig, device: torch.device) -> torch.optim.Optimizer:
    from engine.optim_schedulefree import ScheduleFreeAdamW
    # Warm-up comes from optim.warmup_steps through lr_at, so the optimizer's own is off.
    opt = ScheduleFreeAdamW(tagged_groups(model, cfg), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps,
                            warmup_steps=0)
    opt.train()
    return opt


def _muon(model: nn.Module, cfg: OptimConfig, device: torch.device) -> torch.optim.Optimizer:
    groups = tagged_groups(model, cfg)
    for g in groups:
        if g["kind"] == "matrix":
            g["lr_scale"] = MUON_LR_SCALE
            g["lr"] = cfg.lr * MUON_LR_SCALE
    # Muon orthogonalises 2-D updates; a matrix of another rank (none in the dense model) stays with AdamW.
    for g in groups:
        if g["kind"] == "matrix" and any(p.dim() != 2 for p in g["params"]):
            g["kind"] = "matrix_nd"
    muon_groups = [g for g in groups if g["kind"] == "matrix"]
    rest = [g for g in groups if g["kind"] != "matrix"]
    # match_rms_adamw scales each update to AdamW's typical RMS (0.2 sqrt(max(A, B))), so optim.lr carries over.
    muon = torch.optim.Muon(muon_groups, lr=cfg.lr, weight_decay=cfg.weight_decay, adjust_lr_fn="match_rms_adamw")
    adamw = torch.optim.AdamW(rest, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, **_fused(device))
    return MuonWithAdamW(muon, adamw)


def _sophia(model: nn.Module, cfg: OptimConfig, device: torch.device) -> torch.optim.Optimizer:
    from pytorch_optimizer import SophiaH
    scale = SOPHIA_LR_SCALE / SOPHIA_RHO
    return SophiaH(tagged_groups(model, cfg, scale, 1 / scale), lr=cfg.lr * scale, p=SOPHIA_RHO,
                   update_period=cfg.hessian_every)


BUILDERS: dict[str, Callable[[nn.Module, OptimConfig, torch.device], torch.optim.Optimizer]] = {
    "adamw": _adamw, "lion": _lion, "schedulefree_adamw": _schedulefree, "muon": _muon, "sophia": _sophia,
}
assert tuple(BUILDERS) == OPTIMIZERS


def build_optimizer(model: nn.Module, cfg: OptimConfig, device: torch.device,
                    grad_scaler: bool = False) -> torch.optim.Optimizer:
    """The optimizer `optim.name` names, over the model's trainable parameters grouped by kind."""
    if cfg.name not in BUILDERS:
        raise UserError(f"optim.name: unknown optimizer {cfg.name!r}", "use " + ", ".join(BUILDERS), kind="config")
    if cfg.name == "sophia" and grad_scaler:
        # fp16's loss scale would multiply the Hessian estimate too; unscaling fixes only the gradient.
        raise UserError("optim.name: sophia cannot train under fp16 with a loss scaler",
                        "set hardware.precision to bf16 or fp32, or choose another optimizer", kind="config")
    optimizer = BUILDERS[cfg.name](model, cfg, device)
    # A group added later (a stage's value head) takes the scale of the optimizer it joins (Muon's: AdamW, its
    # last groups) times the stage's lr_ratio for it (engine/train/loop.py add_module_groups).
    optimizer.defaults.setdefault("lr_scale", optimizer.param_groups[-1].get("lr_scale", 1.0))
    scale_adapter_lr(optimizer, model)
    return optimizer


def scale_adapter_lr(optimizer: torch.optim.Optimizer, model: nn.Module) -> None:
    """LoRA: the groups that hold only adapters (and trained token rows) take lora.lr_ratio times their scale, so
    the schedule reaches them as lr_at(step) * lr_scale * lr_ratio. A group a stage adds later (PPO's value head)
    takes `defaults`, set before this, times the stage's own ratio for it (not lora.lr_ratio). On resume the saved
    groups' scales are loaded back."""
    ratio = getattr(model, "lora_info", {}).get("lr_ratio", 1.0)
    if ratio == 1.0:
        return
    adapters = {id(p) for _, m in lora_layers(model) for p in m.parameters(recurse=False)}
    for g in optimizer.param_groups:
        if all(id(p) in adapters for p in g["params"]):
            g["lr_scale"] = g.get("lr_scale", 1.0) * ratio
            g["lr"] *= ratio


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict, model: nn.Module) -> None:
    """Load a saved optimizer state; one saved before groups had kinds (AdamW in two groups, decay and
    no-decay, by name) is mapped onto the kind groups parameter by parameter, so those runs still resume."""
    groups = state.get("param_groups", [])
    if not groups or "kind" in groups[0] or not isinstance(optimizer, torch.optim.AdamW):
        optimizer.load_state_dict(state)
        return
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    old_decay = [p for n, p in trainable if p.dim() >= 2 and "embed" not in n and "lm_head" not in n]
    old_rest = [p for n, p in trainable if not any(p is q for q in old_decay)]
    new_params = [p for g in optimizer.param_groups for p in g["params"]]
    old_params = old_decay + old_rest + new_params[len(old_decay) + len(old_rest):]  # + a stage's own groups
    if len(old_params) != sum(len(g["params"]) for g in groups):
        optimizer.load_state_dict(state)  # not the old layout either: let torch name the mismatch
        return
    index = {id(p): i for i, p in enumerate(new_params)}
    old_index = [i for g in groups for i in g["params"]]
    upgraded = optimizer.state_dict()
    upgraded["state"] = {index[id(old_params[pos])]: st for pos, i in enumerate(old_index)
                         for st in [state["state"].get(i)] if st is not None}
    optimizer.load_state_dict(upgraded)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """The schedule's lr on every group, times the group's own scale (groups without one, e.g. old ones: 1)."""
    for g in optimizer.param_groups:
        g["lr"] = lr * g.get("lr_scale", 1.0)


# ---------------------------------------------------------------------------------------------- loop hooks
def train_mode(optimizer: torch.optim.Optimizer) -> None:
    """Schedule-free AdamW trains at y, between its average x and its SGD sequence z; others have no modes."""
    if hasattr(optimizer, "train"):
        optimizer.train()


@contextlib.contextmanager
def eval_weights(optimizer: torch.optim.Optimizer) -> Iterator[None]:
    """Within the block the model holds the weights to evaluate, sample and save: schedule-free's average x.

    A checkpoint holds x and the optimizer in eval mode; a resume's `train_mode` moves to y by the same
    arithmetic as the uninterrupted run's exit from this block, so both continue bit for bit."""
    if not hasattr(optimizer, "eval"):
        yield
        return
    optimizer.eval()
    try:
        yield
    finally:
        optimizer.train()


def wants_hessian(optimizer: torch.optim.Optimizer) -> bool:
    """True when the coming step is one of Sophia's Hessian estimates (its steps 0, k, 2k, ...)."""
    period = getattr(optimizer, "update_period", None)
    return period is not None and optimizer.param_groups[0].get("step", 0) % period == 0


@contextlib.contextmanager
def second_order(enabled: bool) -> Iterator[None]:
    """Forward and backward of a Hessian step: its backward keeps the graph (create_graph=True) so the optimizer
    can differentiate the gradient (Hutchinson: diag(H) ~ z * (H z), H z = d(g . z)/dw). The fused attention
    kernels have no second derivative, so attention runs on SDPA's math kernel for this step, and RMSNorm on its
    plain formula (its written-out gradient has none either)."""
    if not enabled:
        yield
        return
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from engine.model.rms_norm import twice_differentiable
    with sdpa_kernel(SDPBackend.MATH), twice_differentiable(), warnings.catch_warnings():
        # The grad -> graph -> parameter cycle it warns about is broken by zero_grad(set_to_none=True).
        warnings.filterwarnings("ignore", message="Using backward\\(\\) with create_graph=True")
        yield
