"""Causal attention in query chunks, for bf16 training on a CPU: where SDPA's CPU flash kernel is slow.

    y = softmax(q k^T / sqrt(d) + M) v,   M[i, j] = -inf where key j comes after query i

Queries are cut into chunks of CHUNK positions; chunk [s, e) needs only keys [0, e), so the blocks above the
diagonal (about half of q k^T) are never computed, while each chunk is still one large batched matmul for the
CPU's bf16 GEMM. Autograd differentiates it; the (chunk x keys) probabilities are kept for the backward pass.
"""

from __future__ import annotations

import math

import torch

# Query positions per chunk. Batch 16, one thread, bf16, forward + backward of one layer (AMD EPYC with
# AVX512-BF16, loaded machine): small preset (8 heads of 64, 2 kv heads, T 512) 256 ms at 64, 306 ms at 128,
# SDPA's flash kernel 407 ms; tiny (4 heads of 32, T 256) 40 ms at 64, flash 41 ms.
CHUNK = 64
# Unlike the flash kernel (memory linear in T), the chunks keep their probabilities for the backward pass: about
# B * H * T^2 / 2 entries of 6 bytes (fp32 softmax out, bf16 copy) per layer, which engine/estimate.py does not
# count. Beyond this much per layer (a long context, a big batch) the flash kernel is used instead. The small
# preset at batch 16 x 512 keeps ~100 MiB per layer.
MAX_SAVED_BYTES = 128 * 2**20


def wanted(q: torch.Tensor, dropout: float, mask: torch.Tensor | None, cache: object | None) -> bool:
    """Use the chunked form for plain causal bf16 attention on the CPU, longer than one chunk. fp32 keeps SDPA
    (its results stay bit for bit what they were), and so do padded masks, KV caches, dropout, and attention
    whose saved probabilities would pass MAX_SAVED_BYTES."""
    B, H, T, _ = q.shape
    return (q.device.type == "cpu" and q.dtype == torch.bfloat16 and mask is None and cache is None
            and dropout == 0.0 and T > CHUNK and B * H * T * T * 3 <= MAX_SAVED_BYTES)


def chunked_causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, chunk: int = CHUNK) -> torch.Tensor:
    """q: (B, H, T, D), k and v: (B, Hkv, T, D) with Hkv dividing H (query head h reads kv head h // (H / Hkv),
    as SDPA's enable_gqa). Returns (B, H, T, D). The softmax runs in fp32; the matmuls in the inputs' dtype."""
    B, H, T, D = q.shape
    hkv = k.shape[1]
    g = H // hkv
    qg = q.reshape(B, hkv, g, T, D)                 # the g query heads that share one kv head, side by side
    scale = 1.0 / math.sqrt(D)
    outs = []
    # split, not slices: its backward joins the chunks' gradients once instead of zero-filling a full copy per chunk
    for s, qc in zip(range(0, T, chunk), qg.split(chunk, dim=3), strict=True):
        n = qc.shape[3]
        e = s + n
        qc = qc.reshape(B, hkv, g * n, D)                                       # (B, Hkv, g*n, D)
        scores = (qc @ k[:, :, :e].transpose(-1, -2)).view(B, hkv, g, n, e)     # (B, Hkv, g, n, e)
        future = torch.ones(n, e, dtype=torch.bool, device=q.device).tril(diagonal=s).logical_not_()
        scores = scores.masked_fill(future, float("-inf"))
        p = torch.softmax(scores.float() * scale, dim=-1).to(q.dtype).view(B, hkv, g * n, e)
        outs.append((p @ v[:, :, :e]).view(B, hkv, g, n, D))
    return torch.cat(outs, dim=3).view(B, H, T, D)
