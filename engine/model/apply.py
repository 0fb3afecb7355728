"""Things applied to a built model from outside: gradient checkpointing and torch.compile.

Each `apply_*` takes the model and changes it in place, keeping parameter names (and so checkpoints) unchanged.
LoRA adapters are applied the same way, from engine/model/lora.py (`apply_lora`); distributed wrappers will follow.
"""

from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint

from engine.model.gpt import GPT


def apply_grad_checkpointing(model: GPT) -> GPT:
    """Recompute each block's activations in the backward pass: memory per layer drops to its input."""
    for block in model.blocks:
        inner = block.forward

        def forward(*args, _inner=inner, **kwargs):
            if not torch.is_grad_enabled():
                return _inner(*args, **kwargs)
            return checkpoint(_inner, *args, use_reentrant=False, **kwargs)

        block.forward = forward
    return model


def apply_compile(model: GPT) -> GPT:
    """Compile each block in place (the module tree and state_dict keys stay as they are)."""
    for block in model.blocks:
        block.compile()
    return model
