"""Cross-entropy over the vocabulary with its gradient written out, for the compiled CPU training step.

For logits z (N, V) and targets t (N,), with IGNORE (-100) where no loss is taken:

    loss_i = logsumexp(z_i) - z_i[t_i]                   (0 where t_i is IGNORE)
    d loss_i / d z_i = softmax(z_i) - onehot(t_i)        (0 where t_i is IGNORE)

The forward keeps only the logits (in their own dtype, bf16 under autocast), each row's logsumexp and its target's
logit (N floats each); the backward recomputes the softmax from them in one pass and writes the target entries
(softmax - 1) over it, one scatter of N values. Written by hand because torch.compile's CPU code for
`F.cross_entropy`'s backward spends a pass summing the one-hot gradient over the whole vocabulary, row by row
(`log_softmax_backward` needs that sum, which is just -1 for a target row): at the tiny preset's shape (4096 x 2048,
bf16, 1 thread) the compiled loss and gradient took 19.8 ms that way and take 11.3 ms this way. Used only inside the
compiled region on a CPU (GPT.token_loss); eager runs keep `F.cross_entropy`, whose fused aten kernels write fewer
(N, V) tensors than these ops would one by one.
"""

from __future__ import annotations

import torch

IGNORE = -100  # target id that scores nothing (prompt tokens, padding), as in F.cross_entropy; the one definition


class CrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        valid = targets != IGNORE
        safe = torch.where(valid, targets, 0)                                   # an index for the ignored rows too
        lse = torch.logsumexp(logits.float(), dim=-1)                           # (N,)
        picked = logits.gather(-1, safe.unsqueeze(-1)).squeeze(-1).float()    # z_i[t_i], (N,)
        ctx.save_for_backward(logits, safe, valid, lse, picked)
        return torch.where(valid, lse - picked, 0.0)                            # (N,) fp32

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        logits, safe, valid, lse, picked = ctx.saved_tensors
        scale = torch.where(valid, grad, 0.0)                                    # (N,)
        probs = torch.exp(logits.float() - lse.unsqueeze(-1))                    # softmax, (N, V)
        out = (probs * scale.unsqueeze(-1)).to(logits.dtype)
        # the target column, softmax - 1, written over its entry: one value a row, not a one-hot over the vocabulary
        target = ((torch.exp(picked - lse) - 1.0) * scale).to(logits.dtype)      # (N,)
        return out.scatter(-1, safe.unsqueeze(-1), target.unsqueeze(-1)), None


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-token cross-entropy (N,) of logits (N, V) against targets (N,), 0 at IGNORE; fp32."""
    return CrossEntropy.apply(logits, targets)
