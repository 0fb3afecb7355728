"""Chunked causal attention (bf16 on a CPU) computes what SDPA computes, values and gradients, with grouped heads
and a length that is not a whole number of chunks; the model takes it only where it is meant to."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from engine.config import load_config
from engine.model import chunked_attention
from engine.model.chunked_attention import chunked_causal_attention, wanted
from engine.model.gpt import GPT


def qkv(dtype, B=2, H=4, hkv=2, T=37, D=8):
    g = torch.Generator().manual_seed(0)
    return [torch.randn(B, h, T, D, generator=g, dtype=dtype, requires_grad=True) for h in (H, hkv, hkv)]


@pytest.mark.parametrize("chunk", [8, 16, 64])
def test_matches_sdpa_in_fp32_values_and_gradients(chunk):
    q, k, v = qkv(torch.float32)
    ours = chunked_causal_attention(q, k, v, chunk)
    grad = torch.randn_like(ours)
    mine = torch.autograd.grad(ours, (q, k, v), grad)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    theirs = torch.autograd.grad(ref, (q, k, v), grad)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    for a, b in zip(mine, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_bf16_within_bf16_rounding_of_fp32():
    q, k, v = qkv(torch.float32, T=80)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    low = chunked_causal_attention(*(t.detach().bfloat16() for t in (q, k, v)), chunk=16)
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), ref.detach(), rtol=0.0, atol=0.03)


def test_taken_only_for_plain_causal_bf16_on_cpu():
    long = torch.zeros(1, 1, chunked_attention.CHUNK + 1, 4)
    assert wanted(long.bfloat16(), 0.0, None, None)
    assert not wanted(long, 0.0, None, None)                                         # fp32 keeps SDPA, exactly
    assert not wanted(long.bfloat16(), 0.1, None, None)                              # dropout
    assert not wanted(long.bfloat16(), 0.0, torch.ones(1, 1, 1, 1, dtype=torch.bool), None)
    assert not wanted(long.bfloat16(), 0.0, None, object())                          # a KV cache
    assert not wanted(long[:, :, :chunked_attention.CHUNK].bfloat16(), 0.0, None, None)
    small_preset = torch.empty(16, 8, 512, 64, dtype=torch.bfloat16)                 # batch 16 x 512: ~96 MiB kept
    assert wanted(small_preset, 0.0, None, None)
    long_context = torch.empty(16, 8, 2048, 64, dtype=torch.bfloat16)                # 1.5 GiB a layer: flash instead
    assert not wanted(long_context, 0.0, None, None)


def test_model_under_bf16_autocast_matches_its_fp32_loss(monkeypatch):
    cfg = load_config(overrides=["model.preset=tiny"])
    mc = dataclasses.replace(cfg.model, vocab_size=64, d_model=32, n_layer=2, n_head=4, n_kv_head=2,
                             max_seq_len=40)
    torch.manual_seed(0)
    model = GPT(mc)
    ids = torch.randint(0, 64, (2, 41), generator=torch.Generator().manual_seed(1))
    monkeypatch.setattr(chunked_attention, "CHUNK", 16)
    calls = []
    real = chunked_attention.chunked_causal_attention
    monkeypatch.setattr(chunked_attention, "chunked_causal_attention",
                        lambda q, k, v: calls.append(1) or real(q, k, v, 16))   # 3 chunks of the 40 positions
    fp32 = model(ids[:, :-1], ids[:, 1:])[1]
    assert not calls
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16 = model(ids[:, :-1], ids[:, 1:])[1]
    assert len(calls) == mc.n_layer
    assert abs(bf16.item() - fp32.item()) < 0.02 * fp32.item()
