"""LoRA+ under Adam is alpha by another name: B's lr lam x A's with alpha / r divided by lam trains exactly the same
update B A as plain LoRA, and lam at a fixed alpha is the same as alpha x lam (Adam's step does not depend on the
gradient's scale, so only (alpha / r) x lr_B and lr_A matter; eps aside). One linear layer fitted by LoRA, 200 steps.

    python bench/lora_plus_equiv.py      (seconds; figures in bench/results/lora_sft.md, fourth round)
"""
import torch

torch.manual_seed(0)
d, r, steps = 64, 4, 200
W, X = torch.randn(d, d) / 8, torch.randn(256, d)
T = X @ (W + torch.randn(d, d) / 8).T
A0 = (torch.rand(r, d) * 2 - 1) / d ** 0.5

def run(s, lr_a, lr_b):
    A, B = A0.clone().requires_grad_(), torch.zeros(d, r, requires_grad=True)
    opt = torch.optim.Adam([{"params": [A], "lr": lr_a}, {"params": [B], "lr": lr_b}], eps=1e-12)
    for _ in range(steps):
        loss = ((X @ (W + s * B @ A).T - T) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (s * B @ A).detach(), loss.item()

base, l0 = run(16.0, 3e-3, 3e-3)  # alpha / r = 16, as lora.alpha 64 at rank 4
for lam in (4, 16):
    plus, l1 = run(16.0 / lam, 3e-3, lam * 3e-3)
    print(f"lam {lam}, alpha / lam: max |dW diff| {(plus - base).abs().max():.2e} of max |dW| "
          f"{base.abs().max():.2e}; loss {l0:.6f} vs {l1:.6f}")
hi, l2 = run(16.0 * 4, 3e-3, 3e-3)   # LoRA+ lam 4 at the same alpha = alpha x4 at the same lr
plus4, l3 = run(16.0, 3e-3, 4 * 3e-3)
print(f"lam 4 at fixed alpha vs alpha x4: max diff {(plus4 - hi).abs().max():.2e}; loss {l3:.6f} vs {l2:.6f}")
