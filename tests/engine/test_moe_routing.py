"""The mixture-of-experts layer (engine/model/moe.py): top-k routing, weights, the router losses, shared experts,
and dropless grouped routing against a plain per-token loop."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from engine.config import ModelConfig
from engine.model import moe as moe_mod
from engine.model.moe import MoE, activate, load_balancing_loss, route, router_z_loss


def moe_layer(activation: str = "swiglu", experts: int = 4, top_k: int = 2, shared: int = 0, seed: int = 0) -> MoE:
    cfg = ModelConfig(d_model=16, n_layer=2, n_head=2, n_kv_head=1, activation=activation, d_ff=24,
                      moe={"num_experts": experts, "top_k": top_k, "shared_experts": shared})
    torch.manual_seed(seed)
    layer = MoE(cfg)
    for p in layer.parameters():  # O(1) weights, so a wrong expert or weight shows in the output
        torch.nn.init.normal_(p, 0.0, 0.3)
    return layer


def reference(layer: MoE, x: torch.Tensor) -> torch.Tensor:
    """The MoE's definition, one token at a time: sum over its top-k experts of weight x expert(x), plus shared."""
    e, out = layer.experts, []
    for t in range(x.shape[0]):
        p = F.softmax(layer.router(x[t]).float(), dim=-1)
        w, idx = p.topk(layer.top_k)
        w = w / w.sum()
        y = torch.zeros_like(x[t])
        for j in range(layer.top_k):
            i = int(idx[j])
            gate = e.gate_proj[i] @ x[t] if e.gate_proj is not None else None
            y = y + w[j] * (e.down_proj[i] @ activate(e.activation, gate, e.up_proj[i] @ x[t]))
        if layer.shared is not None:
            s = layer.shared
            gate = s.gate_proj[0] @ x[t] if s.gate_proj is not None else None
            y = y + s.down_proj[0] @ activate(s.activation, gate, s.up_proj[0] @ x[t])
        out.append(y)
    return torch.stack(out)


def test_every_token_gets_k_distinct_experts_and_weights_summing_to_one():
    torch.manual_seed(1)
    logits = torch.randn(50, 6)
    probs, weights, experts = route(logits, 3)
    assert experts.shape == (50, 3) and weights.shape == (50, 3)
    assert all(len(set(row.tolist())) == 3 for row in experts)
    torch.testing.assert_close(weights.sum(-1), torch.ones(50))
    assert (weights > 0).all()
    # the chosen experts are the most probable ones, in order
    torch.testing.assert_close(probs.gather(1, experts), probs.topk(3).values)


def test_load_balancing_loss_is_at_its_minimum_of_one_for_uniform_routing():
    E, k, N = 4, 2, 64
    uniform = torch.full((N, E), 1.0 / E)
    balanced = torch.stack([torch.arange(k) + (t % (E // k)) * k for t in range(N)])  # each expert: N k / E slots
    aux, load = load_balancing_loss(uniform, balanced, E)
    assert float(aux) == pytest.approx(1.0)
    torch.testing.assert_close(load, torch.full((E,), 1.0 / E))
    # any other routing costs more: E sum_i f_i P_i >= 1 when f follows P (Cauchy-Schwarz), E when one expert has all
    skewed = torch.softmax(torch.tensor([3.0, 1.0, 0.0, -1.0]), 0).expand(N, E)
    aux_skewed, _ = load_balancing_loss(skewed, skewed.topk(k).indices, E)
    assert float(aux_skewed) > 1.2
    all_one = torch.zeros(N, E)
    all_one[:, 0] = 1.0
    aux_max, _ = load_balancing_loss(all_one, torch.zeros(N, 1, dtype=torch.long), E)
    assert float(aux_max) == pytest.approx(E)


def test_load_balancing_gradient_lowers_the_overloaded_experts_probability():
    logits = torch.tensor([[2.0, 0.0, 0.0, 0.0]] * 8, requires_grad=True)
    probs, _, experts = route(logits, 1)
    aux, _ = load_balancing_loss(probs, experts, 4)
    aux.backward()
    assert (logits.grad[:, 0] > 0).all()  # descending the loss moves probability off expert 0


def test_router_z_loss_is_the_mean_squared_logsumexp():
    logits = torch.tensor([[0.0, 0.0], [1.0, 2.0]])
    expected = (math.log(2) ** 2 + math.log(math.e + math.e**2) ** 2) / 2
    assert float(router_z_loss(logits)) == pytest.approx(expected)


@pytest.mark.parametrize("activation,shared,top_k", [("swiglu", 0, 2), ("geglu", 1, 1), ("relu2", 2, 3),
                                                     ("gelu", 0, 4)])
def test_dropless_routing_equals_a_per_token_loop(activation, shared, top_k):
    layer = moe_layer(activation, experts=4, top_k=top_k, shared=shared, seed=top_k)
    torch.manual_seed(7)
    x = torch.randn(3, 11, 16)                                          # (B, T, C): reshaped to 33 tokens
    y, stats = layer(x)
    torch.testing.assert_close(y.reshape(-1, 16), reference(layer, x.reshape(-1, 16)), rtol=1e-4, atol=1e-4)
    assert stats.expert_load.sum().item() == pytest.approx(1.0)


def test_grouped_matmul_and_the_per_expert_fallback_agree_with_gradients(monkeypatch):
    """Devices without a grouped kernel (fp32 CUDA, MPS) loop over experts; both paths give the same values and
    gradients. One expert gets no token at all here."""
    layer = moe_layer("swiglu", experts=6, top_k=2)
    torch.manual_seed(3)
    x = torch.randn(9, 16).abs()
    with torch.no_grad():
        layer.router.weight[5] = -10.0                                  # expert 5: never in a top-2
    results = []
    for grouped in (True, False):
        monkeypatch.setattr(moe_mod, "_grouped_mm_ok", lambda _x, g=grouped: g)
        layer.zero_grad()
        y, stats = layer(x)
        (y.square().sum() + stats.loss).backward()
        results.append((y.detach(), [p.grad.clone() for p in layer.parameters()], stats.expert_load))
    assert float(results[0][2][5]) == 0.0
    torch.testing.assert_close(results[0][0], results[1][0])
    for a, b in zip(results[0][1], results[1][1], strict=True):
        torch.testing.assert_close(a, b)


def test_shared_experts_see_every_token():
    layer = moe_layer("swiglu", experts=4, top_k=1, shared=2)
    with torch.no_grad():
        layer.experts.down_proj.zero_()                                 # routed experts add nothing
    torch.manual_seed(5)
    x = torch.randn(20, 16, requires_grad=True)
    y, _ = layer(x)
    torch.testing.assert_close(y, layer.shared.dense(x))
    assert (y.abs().sum(-1) > 0).all()
    y.sum().backward()
    assert (x.grad.abs().sum(-1) > 0).all()                             # every token reached the shared experts
    assert layer.shared.up_proj.shape == (1, 2 * 24, 16)                # two experts' width


def test_top_k_above_the_expert_count_is_an_error_naming_the_key():
    from engine.config import ConfigError, load_config
    with pytest.raises(ConfigError) as e:
        load_config(overrides=["model.moe.num_experts=4", "model.moe.top_k=5"])
    assert e.value.key == "model.moe.top_k" and "num_experts" in str(e.value)
    with pytest.raises(ConfigError) as e:
        load_config(overrides=["model.moe.topk=2"])
    assert e.value.key == "model.moe.topk" and "top_k" in e.value.hint
