"""Skipping a step whose loss or gradient is NaN/inf without stopping the host to ask, where the optimizer allows.

The loop must never apply a non-finite update. Reading "is it finite?" before `optimizer.step()` makes the host wait
for the whole backward pass, and the GPU then idles while Python queues the next step. Fused Adam/AdamW can take the
answer as a device tensor instead (`found_inf`, the hook torch's GradScaler uses): when it is 1 the kernel leaves
weights, moments and step count as they were. The loop then reads the flag one step later, when the next step's work
is already queued behind it. Other optimizers (and fp16's loss scaler, which skips by itself) read it at once.
"""

from __future__ import annotations

import torch


def skips_on_device(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None) -> bool:
    """Whether this optimizer can skip a non-finite step on the device (fused Adam/AdamW, no loss scaler)."""
    return (scaler is None and isinstance(optimizer, torch.optim.Adam | torch.optim.AdamW)
            and all(group.get("fused") for group in optimizer.param_groups))


def step_if_finite(optimizer: torch.optim.Optimizer, finite: torch.Tensor) -> None:
    """optimizer.step(), which the fused kernel turns into a no-op on the device when `finite` is False."""
    optimizer.found_inf = (~finite).to(torch.float32)
    try:
        optimizer.step()
    finally:
        del optimizer.found_inf
