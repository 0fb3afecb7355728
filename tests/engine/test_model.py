"""engine.model.gpt at toy size: shapes, loss masking, parameter count, init, KV cache, causality, learning."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from engine.estimate import param_count
from engine.model.gpt import GPT

V = 97


@pytest.fixture
def model(model_cfg):
    torch.manual_seed(0)
    return GPT(model_cfg(vocab_size=V)).eval()


def ids(b: int, t: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, V, (b, t), generator=torch.Generator().manual_seed(seed))


def test_output_shapes(model):
    x = ids(3, 10)
    logits, loss = model(x)
    assert logits.shape == (3, 10, V) and loss is None
    logits, loss = model(x, x)
    assert loss.shape == () and torch.isfinite(loss)
    logits, _ = model(x, last_only=True)
    assert logits.shape == (3, 1, V)
    assert torch.allclose(logits[:, 0], model(x)[0][:, -1], atol=1e-5)


def test_initial_loss_is_near_uniform(model):
    _, loss = model(ids(4, 32), ids(4, 32, seed=1))
    assert abs(loss.item() - math.log(V)) < 0.3


def test_loss_ignores_minus_100_targets(model):
    x, y = ids(2, 16), ids(2, 16, seed=1)
    y[:, ::2] = -100
    logits, loss = model(x, y)
    keep = y != -100
    expected = F.cross_entropy(logits[keep].float(), y[keep])
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    # Whatever sits at the ignored positions makes no difference.
    y2 = y.clone()
    y2[~keep] = -100
    x2 = x.clone()
    assert model(x2, y2)[1].item() == pytest.approx(loss.item(), rel=1e-6)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"tie_embeddings": False},
        {"activation": "gelu"},
        {"activation": "geglu", "d_ff": 80},
        {"qk_norm": True},
        {"n_kv_head": 4},  # plain MHA
        {"n_kv_head": 1},  # MQA
        {"n_layer": 3, "d_model": 48, "n_head": 6, "n_kv_head": 3, "tie_embeddings": False, "qk_norm": True},
    ],
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default",
)
def test_num_params_equals_the_estimate(model_cfg, overrides):
    cfg = model_cfg(vocab_size=V, **overrides)
    m = GPT(cfg)
    est = param_count(cfg)
    assert m.num_params() == est["total"]
    assert m.num_params(non_embedding=True) == est["non_embedding"]
    assert sum(p.numel() for p in m.parameters()) == est["total"]  # a tied head counts once


def test_tied_head_shares_the_embedding(model_cfg):
    tied = GPT(model_cfg(vocab_size=V))
    assert tied.lm_head.weight is tied.embed.weight
    untied = GPT(model_cfg(vocab_size=V, tie_embeddings=False))
    assert untied.lm_head.weight is not untied.embed.weight


def test_init_std_and_scaled_residual_projections(model_cfg):
    torch.manual_seed(0)
    cfg = model_cfg(vocab_size=512, d_model=64, n_head=4, n_kv_head=2, n_layer=2, tie_embeddings=False)
    m = GPT(cfg)
    resid = 0.02 / math.sqrt(2 * cfg.n_layer)
    for name, p in m.named_parameters():
        if name.endswith("norm.weight"):
            assert torch.all(p == 1), name
        elif name.endswith(("o_proj.weight", "down_proj.weight")):
            assert p.std().item() == pytest.approx(resid, rel=0.1), name
            assert abs(p.mean().item()) < resid * 0.1, name
        else:
            assert p.std().item() == pytest.approx(0.02, rel=0.1), name


def test_init_std_follows_the_config(model_cfg):
    torch.manual_seed(0)
    m = GPT(model_cfg(vocab_size=512, init_std=0.05))
    assert m.embed.weight.std().item() == pytest.approx(0.05, rel=0.1)


def test_model_needs_a_vocab_size(model_cfg):
    with pytest.raises(ValueError, match="vocab_size"):
        GPT(model_cfg(vocab_size=0))


@pytest.mark.parametrize("overrides", [{}, {"n_kv_head": 4}, {"qk_norm": True, "activation": "gelu"}],
                         ids=["gqa", "mha", "qknorm-gelu"])
def test_kv_cache_step_by_step_matches_a_full_forward(model_cfg, overrides):
    torch.manual_seed(0)
    m = GPT(model_cfg(vocab_size=V, **overrides)).eval()
    x = ids(2, 12)
    with torch.no_grad():
        full, _ = m(x)
        caches = m.new_caches(2)
        steps = [m(x[:, i:i + 1], caches=caches, pos=i)[0] for i in range(x.shape[1])]
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)


def test_kv_cache_prefill_then_chunk_after_a_cached_prefix(model):
    x = ids(2, 14)
    with torch.no_grad():
        full, _ = model(x)
        caches = model.new_caches(2)
        a, _ = model(x[:, :5], caches=caches, pos=0)        # prefill
        b, _ = model(x[:, 5:6], caches=caches, pos=5)       # one token
        c, _ = model(x[:, 6:11], caches=caches, pos=6)      # a multi-token chunk at pos > 0
        d, _ = model(x[:, 11:], caches=caches, pos=11, last_only=True)
    assert torch.allclose(a, full[:, :5], atol=1e-5)
    assert torch.allclose(b, full[:, 5:6], atol=1e-5)
    assert torch.allclose(c, full[:, 6:11], atol=1e-5)
    assert torch.allclose(d, full[:, -1:], atol=1e-5)


def test_causality_later_tokens_do_not_change_earlier_logits(model):
    x = ids(1, 16)
    x2 = x.clone()
    x2[0, 10:] = (x2[0, 10:] + 1) % V
    with torch.no_grad():
        a, _ = model(x)
        b, _ = model(x2)
    assert torch.allclose(a[:, :10], b[:, :10], atol=1e-6)
    assert not torch.allclose(a[:, 10:], b[:, 10:], atol=1e-3)


def test_batch_rows_are_independent(model):
    x = ids(3, 8)
    with torch.no_grad():
        batched, _ = model(x)
        single, _ = model(x[1:2])
    assert torch.allclose(batched[1:2], single, atol=1e-5)


def test_a_few_optimizer_steps_reduce_the_loss_on_a_fixed_batch(model_cfg):
    torch.manual_seed(0)
    m = GPT(model_cfg(vocab_size=V)).train()
    opt = torch.optim.AdamW(m.parameters(), lr=1e-2)
    x, y = ids(2, 16), ids(2, 16, seed=1)
    losses = []
    for _ in range(10):
        _, loss = m(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0] - 1.0, losses


def test_every_parameter_gets_a_gradient(model_cfg):
    m = GPT(model_cfg(vocab_size=V, qk_norm=True, tie_embeddings=False))
    _, loss = m(ids(2, 8), ids(2, 8, seed=1))
    loss.backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert missing == []


def test_forward_beyond_max_seq_len_raises(model):
    limit = model.cfg.max_seq_len
    model(ids(1, limit))  # exactly the limit is fine
    with pytest.raises(ValueError, match="max_seq_len"):
        model(ids(1, limit + 1))
    caches = model.new_caches(1)
    with pytest.raises(ValueError, match="max_seq_len"):
        model(ids(1, 2), caches=caches, pos=limit - 1)
