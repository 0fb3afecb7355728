"""Things applied to a built model from outside: gradient checkpointing, torch.compile, DDP and FSDP2.

Each `apply_*` takes the model and changes it in place, keeping parameter names (and so checkpoints) unchanged.
LoRA adapters are applied the same way, from engine/model/lora.py (`apply_lora`).
DDP and FSDP2 wrappers (apply_ddp, apply_fsdp) go last, after checkpointing and compile.
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


def apply_compile(model: GPT, eager_outside_training: bool = True, **options) -> GPT:
    """Compile each block in place, the final norm, and the cross-entropy (GPT.token_loss) as one more region;
    the module tree and state_dict keys stay as they are. The blocks share one compiled graph (regional
    compilation), so compile time does not grow with depth. `options` go to torch.compile (e.g. backend). (The
    final norm, run eagerly, cost ~2% of the tiny preset's compiled bf16 step on a CPU: a dozen fp32 ops over the
    residual stream, forward and backward.)

    With `eager_outside_training` (the engine sets it on a CPU) the compiled code runs only while autograd
    records (training steps); evaluation and generation (no_grad, inference_mode) run the same modules eagerly.
    Dynamo guards on the grad mode, so each would compile graphs of its own: a step-0 eval of the tiny preset on
    a CPU compiled five (val loss, then one per prefill shape), 76 s of the 221 s before its first step
    (bench/results/cpu_compile.md). On a GPU, where compiles are quicker and eval was measured compiled, it is off."""
    loss = torch.compile(model.token_loss, **options)
    for module in (*model.blocks, model.norm):
        module.compile(**options)
        if eager_outside_training:
            module._compiled_call_impl = while_training(module._compiled_call_impl, module._call_impl)
    # an instance attribute: shadows the method
    model.token_loss = while_training(loss, model.token_loss) if eager_outside_training else loss
    return model


def while_training(compiled, eager):
    """`compiled` where autograd records, else `eager` (the same function uncompiled)."""
    def call(*args, **kwargs):
        return (compiled if torch.is_grad_enabled() else eager)(*args, **kwargs)
    return call


def remove_compile(model: GPT) -> None:
    """Back to eager: undo apply_compile (the caller resets dynamo's caches)."""
    for module in (*model.blocks, model.norm):
        module._compiled_call_impl = None
    model.__dict__.pop("token_loss", None)


def apply_ddp(model: GPT, device: torch.device) -> torch.nn.Module:
    """DistributedDataParallel: a full copy per process, gradients averaged across processes in the backward pass.
    Returns the wrapper (train through it); `model` itself stays the plain GPT for generation and saving. The RoPE
    tables are the same on every rank, so buffers are not re-broadcast each forward."""
    from torch.nn.parallel import DistributedDataParallel
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, forward_sync_buffers=False)


def apply_fsdp(model: GPT) -> GPT:
    """FSDP2 (`fully_shard`): each block's weights, gradients and optimizer state are split across the processes
    and gathered only while the block runs; the root holds the embedding, final norm and head. Applied after
    gradient checkpointing and compile (each block is its own unit, as torchtitan orders them). In place: the
    parameter names stay, so the gathered state_dict is an ordinary checkpoint."""
    from torch.distributed.fsdp import fully_shard
    for block in model.blocks:
        fully_shard(block)
    fully_shard(model)
    return model
