"""The hand-written cross-entropy (model/cross_entropy.py) against torch's: same per-token losses and gradients,
with ignored targets, in fp32 and bf16 logits, eager and compiled inside GPT.token_loss."""

import pytest
import torch
import torch.nn.functional as F

from engine.model.cross_entropy import IGNORE, cross_entropy


def logits_and_targets(dtype):
    g = torch.Generator().manual_seed(0)
    z = (3 * torch.randn(12, 50, generator=g)).to(dtype)
    t = torch.randint(0, 50, (12,), generator=g)
    t[[1, 5, 6]] = IGNORE
    return z, t


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_losses_and_gradients_match_torch(dtype):
    z, t = logits_and_targets(dtype)
    weights = torch.linspace(0.5, 2.0, 12)                     # a weighted sum: each row's gradient is scaled
    ours_z, ref_z = z.clone().requires_grad_(), z.clone().requires_grad_()
    ours = cross_entropy(ours_z, t)
    ref = F.cross_entropy(ref_z.float(), t, ignore_index=IGNORE, reduction="none")
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    assert (ours[[1, 5, 6]] == 0).all()
    (ours * weights).sum().backward()
    (ref * weights).sum().backward()
    assert ours_z.grad.dtype == dtype
    tol = 1e-6 if dtype == torch.float32 else 1e-2
    torch.testing.assert_close(ours_z.grad.float(), ref_z.grad.float(), rtol=tol, atol=tol)
    assert (ours_z.grad[[1, 5, 6]] == 0).all()                 # ignored rows get no gradient


def test_all_targets_ignored_gives_zero_loss_and_gradient():
    z = torch.randn(4, 9, requires_grad=True)
    loss = cross_entropy(z, torch.full((4,), IGNORE))
    loss.sum().backward()
    assert loss.abs().sum() == 0 and z.grad.abs().sum() == 0


def test_compiled_token_loss_on_cpu_matches_eager(model_cfg):
    """GPT.token_loss takes the hand-written path only while torch.compile traces it on a CPU."""
    from engine.model.gpt import GPT
    model = GPT(model_cfg(vocab_size=50))
    z, t = logits_and_targets(torch.bfloat16)
    compiled = torch.compile(model.token_loss)
    for reduction in ("mean", "sum", "none"):
        a, b = z.clone().requires_grad_(), z.clone().requires_grad_()
        eager, fused = model.token_loss(a, t, reduction), compiled(b, t, reduction)
        torch.testing.assert_close(fused, eager, rtol=1e-5, atol=1e-5)
        eager.sum().backward()
        fused.sum().backward()
        torch.testing.assert_close(b.grad.float(), a.grad.float(), rtol=1e-2, atol=1e-2)
