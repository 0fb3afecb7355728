"""RMSNorm with its gradient written out, for eager training (CPU, MPS, or a GPU without torch.compile).

    r = 1 / sqrt(mean(x^2) + eps)        one number per row (token)
    x̂ = x r,   y = x̂ w
    backward, with g = dL/dy and gw = g w:
    dL/dx = r (gw - x̂ mean(gw x̂))       (mean over the row's channels)
    dL/dw = sum over rows of g x̂

Autograd differentiating the plain formula (pow, mean, add, rsqrt, two muls) runs about twice as many passes over
the (batch, time, channels) tensor in the backward as these lines: on a CPU, 1 thread, fp32, (16, 256, 128) forward
+ backward took 4.3-7.7 ms that way and 2.6-3.6 ms this way (three rounds, 1.7-2.1x), for 9 norms a step of the
tiny preset. Under torch.compile the plain formula is kept (engine/model/gpt.py): inductor fuses it by itself.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import torch
from torch.autograd.function import once_differentiable

# Set while a step differentiates its gradient (Sophia's Hessian estimate, engine/optim.py second_order): the
# written-out backward has no derivative of its own, so RMSNorm then takes the plain formula. Without it, a gradient
# of the gradient misses the norms' part: SophiaH's Hessian estimates came out different (measured), not an error.
_TWICE = contextvars.ContextVar("rms_norm_twice_differentiable", default=False)


@contextlib.contextmanager
def twice_differentiable() -> Iterator[None]:
    token = _TWICE.set(True)
    try:
        yield
    finally:
        _TWICE.reset(token)


def written_out() -> bool:
    """Whether RMSNorm may use RMSNormFunction now (not while a gradient's gradient is wanted)."""
    return not _TWICE.get()


class RMSNormFunction(torch.autograd.Function):
    """y = rms_norm(x) * weight, computed in fp32 (or x's dtype if wider) and returned in x's dtype (bf16 under
    autocast)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        xf = x.to(torch.promote_types(x.dtype, torch.float32))
        # the plain formula's own ops: outputs bit for bit those of autograd on it (and of generation's fast step)
        r = torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
        x_hat = xf * r
        ctx.save_for_backward(x_hat, r, weight)
        return (x_hat * weight.to(xf.dtype)).to(x.dtype)

    @staticmethod
    @once_differentiable   # a second derivative raises instead of silently treating x̂ and r as constants
    def backward(ctx, g: torch.Tensor):
        x_hat, r, weight = ctx.saved_tensors
        gf = g.to(x_hat.dtype)
        gw = gf * weight.to(x_hat.dtype)
        mean_dot = torch.linalg.vecdot(gw, x_hat).unsqueeze(-1).div_(x_hat.shape[-1])   # mean(gw x̂) per row
        dx = torch.addcmul(gw, x_hat, mean_dot, value=-1).mul_(r)
        dw = (gf * x_hat).sum(dim=tuple(range(gf.dim() - 1)))
        return dx.to(g.dtype), dw.to(weight.dtype), None


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    return RMSNormFunction.apply(x, weight, eps)
