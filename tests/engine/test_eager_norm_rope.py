"""The eager training forms of RMSNorm (gradient written out, model/rms_norm.py) and RoPE (two products instead of
four) against the plain formulas that torch.compile traces: same outputs and gradients, fp32 and bf16, and in float64
the written-out gradient passes torch's numerical gradcheck."""

import pytest
import torch

from engine.model.gpt import RMSNorm, apply_rope, rope_tables
from engine.model.rms_norm import RMSNormFunction


def plain_rms_norm(x, w, eps):
    xf = x.float()
    xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return (xf * w.float()).to(x.dtype)


def plain_rope(x, cos, sin):
    d = x.shape[-1] // 2
    x1, x2 = x[..., :d].float(), x[..., d:].float()
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).to(x.dtype)


def forward_backward(fn, x, *params):
    x = x.detach().clone().requires_grad_()
    params = [p.detach().clone().requires_grad_() for p in params]
    y = fn(x, *params)
    g = torch.linspace(-1, 1, y.numel()).reshape(y.shape).to(y.dtype)   # not all-equal: a wrong dw would show
    y.backward(g)
    return y, x.grad, [p.grad for p in params]


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.bfloat16, 2e-2)])
def test_rms_norm_function_matches_the_plain_formula(dtype, tol):
    gen = torch.Generator().manual_seed(0)
    x = (3 * torch.randn(2, 5, 16, generator=gen)).to(dtype)
    w = 1 + 0.3 * torch.randn(16, generator=gen)
    y, dx, (dw,) = forward_backward(lambda x, w: RMSNormFunction.apply(x, w, 1e-5), x, w)
    y_ref, dx_ref, (dw_ref,) = forward_backward(lambda x, w: plain_rms_norm(x, w, 1e-5), x, w)
    assert y.dtype == dtype and dx.dtype == dtype and dw.dtype == torch.float32
    torch.testing.assert_close(y.float(), y_ref.float(), rtol=tol, atol=tol)
    torch.testing.assert_close(dx.float(), dx_ref.float(), rtol=tol, atol=tol)
    torch.testing.assert_close(dw, dw_ref, rtol=tol, atol=tol)


def test_rms_norm_function_passes_gradcheck():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(3, 4, 8, generator=gen, dtype=torch.float64, requires_grad=True)
    w = (1 + 0.3 * torch.randn(8, generator=gen, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, w: RMSNormFunction.apply(x, w, 1e-6), (x, w))


def test_the_module_takes_the_written_out_gradient_with_the_plain_formulas_outputs():
    norm = RMSNorm(16, 1e-5)
    x = torch.randn(2, 3, 16)
    y = norm(x)
    assert type(y.grad_fn).__name__ == "RMSNormFunctionBackward"
    # bit for bit: a reference model under no_grad and its policy copy under autograd see the same numbers
    assert torch.equal(y, plain_rms_norm(x, norm.weight, 1e-5))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_eager_rope_equals_the_four_product_form(dtype):
    cos, sin = rope_tables(8, 12, 10000.0)
    x = torch.randn(2, 3, 12, 8, generator=torch.Generator().manual_seed(2)).to(dtype)
    y, dx, _ = forward_backward(lambda x: apply_rope(x, cos, sin), x)
    y_ref, dx_ref, _ = forward_backward(lambda x: plain_rope(x, cos, sin), x)
    assert y.dtype == dtype
    assert torch.equal(y, y_ref)                       # bit for bit: a - b * s == a + b * (-s)
    torch.testing.assert_close(dx.float(), dx_ref.float(), rtol=1e-6, atol=1e-6)


def test_a_second_derivative_takes_the_plain_formula_and_is_refused_without_it():
    from engine.model.rms_norm import twice_differentiable
    norm = RMSNorm(8, 1e-5)
    with torch.no_grad():
        norm.weight.mul_(torch.linspace(0.5, 1.5, 8))
    x = torch.randn(3, 8, generator=torch.Generator().manual_seed(3), requires_grad=True)
    z = torch.randn(3, 8, generator=torch.Generator().manual_seed(4))

    def hessian_vector(y):          # H z of sum(y^2) w.r.t. x, as Sophia's Hutchinson estimate differentiates
        (g,) = torch.autograd.grad((y ** 2).sum(), x, create_graph=True)
        return torch.autograd.grad((g * z).sum(), x)[0]

    with twice_differentiable():    # what engine/optim.py second_order sets for a Hessian step
        y = norm(x)
        assert type(y.grad_fn).__name__ != "RMSNormFunctionBackward"
        hz = hessian_vector(y)
    torch.testing.assert_close(hz, hessian_vector(plain_rms_norm(x, norm.weight, 1e-5)))
    with pytest.raises(RuntimeError):
        hessian_vector(norm(x))     # the written-out backward has no derivative of its own: needs the context
