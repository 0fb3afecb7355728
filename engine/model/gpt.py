"""The model: a Llama-style decoder in one file, read top to bottom.

RMSNorm -> RoPE -> grouped-query attention (SDPA) -> SwiGLU / GEGLU / GELU / ReLU² MLP (or a mixture of experts,
engine/model/moe.py) -> block -> GPT. It knows nothing about tokenizers, chat templates, LoRA, compile or
distributed training: those are applied from outside (`engine/model/apply.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.config import ModelConfig
from engine.model import chunked_attention, rms_norm
from engine.model.cross_entropy import IGNORE, cross_entropy
from engine.model.moe import MoE, RouterStats, activate


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in fp32 for stability under bf16/fp16 autocast, then cast back. Eagerly the same numbers with
        # the gradient written out (engine/model/rms_norm.py: fewer passes over x); compiled, inductor fuses these.
        if not torch.compiler.is_compiling() and rms_norm.written_out():
            return rms_norm.rms_norm(x, self.weight, self.eps)
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (xf * self.weight.float()).to(x.dtype)


def rope_tables(head_dim: int, max_len: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables of shape (max_len, head_dim // 2) for rotary position embeddings."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(max_len, dtype=torch.float32), inv_freq)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs (first half, second half) of x: (B, H, T, D) by positions' angles cos/sin: (T, D/2)."""
    if torch.compiler.is_compiling():  # inductor fuses these into one kernel; the eager form below ran 2.6% slower
        d = x.shape[-1] // 2
        x1, x2 = x[..., :d].float(), x[..., d:].float()
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).to(x.dtype)
    # Eagerly as x * [cos, cos] + [x2, x1] * [-sin, sin], the same numbers bit for bit: two products over x
    # instead of four (and split, not slices, whose gradients would each be a zero-filled copy of x). On a CPU,
    # fp32, 1 thread, forward + backward of the tiny preset's queries 2.6 -> 2.2 ms.
    xf = x.float()
    x1, x2 = xf.split(x.shape[-1] // 2, dim=-1)
    swapped = torch.cat([x2, x1], dim=-1)
    return (xf * torch.cat([cos, cos], dim=-1) + swapped * torch.cat([-sin, sin], dim=-1)).to(x.dtype)


@dataclass
class KVCache:
    """Preallocated keys/values for one layer: (B, n_kv_head, max_len, head_dim). `pos` is shared by all layers."""

    k: torch.Tensor
    v: torch.Tensor

    def write(self, pos: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = k.shape[2]
        self.k[:, :, pos:pos + t] = k
        self.v[:, :, pos:pos + t] = v
        return self.k[:, :, :pos + t], self.v[:, :, :pos + t]


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_head, self.n_kv_head, self.head_dim = cfg.n_head, cfg.n_kv_head, cfg.head_dim
        self.q_proj = nn.Linear(cfg.d_model, cfg.n_head * cfg.head_dim, bias=False)
        self.k_proj = nn.Linear(cfg.d_model, cfg.n_kv_head * cfg.head_dim, bias=False)
        self.v_proj = nn.Linear(cfg.d_model, cfg.n_kv_head * cfg.head_dim, bias=False)
        self.o_proj = nn.Linear(cfg.n_head * cfg.head_dim, cfg.d_model, bias=False)
        self.q_norm = RMSNorm(cfg.head_dim, cfg.norm_eps) if cfg.qk_norm else nn.Identity()
        self.k_norm = RMSNorm(cfg.head_dim, cfg.norm_eps) if cfg.qk_norm else nn.Identity()
        self.dropout = cfg.dropout

    def forward(self, x, cos, sin, mask=None, cache: KVCache | None = None, pos: int = 0):
        B, T, _ = x.shape
        # Three matmuls, not one against the stacked weights: on an H200 (medium preset) the stacked form's
        # backward (split, RoPE and transposes fused by compile) cost 2.2 ms more per step than its matmul saved.
        q = self.q_proj(x).view(B, T, self.n_head, self.head_dim).transpose(1, 2)     # (B, H, T, D)
        k = self.k_proj(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)  # (B, Hkv, T, D)
        v = self.v_proj(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)  # (B, Hkv, T, D)
        q, k = apply_rope(self.q_norm(q), cos, sin), apply_rope(self.k_norm(k), cos, sin)
        if cache is not None:
            k, v = cache.write(pos, k, v)                                               # (B, Hkv, pos+T, D)
        # Grouped-query: each kv head serves n_head / n_kv_head query heads. SDPA reads the shared heads in place
        # (enable_gqa) rather than from repeat_interleave'd copies: no (B, H, S, D) copy per layer and step.
        gqa = self.n_kv_head != self.n_head
        drop = self.dropout if self.training else 0.0
        if chunked_attention.wanted(q, drop, mask, cache):  # bf16 on a CPU: faster than SDPA's flash kernel
            y = chunked_attention.chunked_causal_attention(q, k, v)
        elif mask is None:
            # Plain causal training/prefill, or one new token that may see every cached key.
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, is_causal=T > 1, enable_gqa=gqa)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop, enable_gqa=gqa)
        y = y.transpose(1, 2).contiguous().view(B, T, -1)                               # (B, T, C)
        return self.o_proj(y)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.activation = cfg.activation
        gated = cfg.activation in ("swiglu", "geglu")  # three matrices; gelu and relu2 have two
        self.up_proj = nn.Linear(cfg.d_model, cfg.ffn_dim, bias=False)
        self.gate_proj = nn.Linear(cfg.d_model, cfg.ffn_dim, bias=False) if gated else None
        self.down_proj = nn.Linear(cfg.ffn_dim, cfg.d_model, bias=False)

    def forward(self, x):
        gate = self.gate_proj(x) if self.gate_proj is not None else None
        return self.down_proj(activate(self.activation, gate, self.up_proj(x)))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int = 0):
        super().__init__()
        self.attn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.attn = Attention(cfg)
        self.mlp_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mlp = MoE(cfg) if cfg.is_moe_layer(layer) else MLP(cfg)
        self.resid_drop = nn.Dropout(cfg.dropout)

    def forward(self, x, cos, sin, mask=None, cache=None, pos=0):
        """(x, the MoE router's RouterStats or None for a dense MLP)."""
        x = x + self.resid_drop(self.attn(self.attn_norm(x), cos, sin, mask, cache, pos))
        h = self.mlp(self.mlp_norm(x))
        h, stats = h if isinstance(self.mlp, MoE) else (h, None)
        x = x + self.resid_drop(h)
        return x, stats


class GPT(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.vocab_size <= 0:
            raise ValueError("model.vocab_size must be set (from the tokenizer) before building the model")
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layer))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.embed.weight
        cos, sin = rope_tables(cfg.head_dim, cfg.max_seq_len, cfg.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Normal(0, 0.02) everywhere; projections into the residual stream scaled by 1/sqrt(2 n_layer).

        PyTorch's default (Kaiming-uniform) init trains worse here and, on CPU, produces denormal floats
        that made a step ~1.7x slower.
        """
        std = self.cfg.init_std
        resid_std = std / math.sqrt(2 * self.cfg.n_layer)
        for name, p in self.named_parameters():
            if name.endswith("norm.weight"):
                nn.init.ones_(p)
            elif name.endswith(("o_proj.weight", "down_proj.weight", "experts.down_proj", "shared.down_proj")):
                nn.init.normal_(p, 0.0, resid_std)
            else:
                nn.init.normal_(p, 0.0, std)

    def num_params(self, non_embedding: bool = False) -> int:
        """Unique parameters (a tied head counts once); non_embedding drops the token embedding (and an untied head)."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.embed.weight.numel()
            if not self.cfg.tie_embeddings:
                n -= self.lm_head.weight.numel()
        return n

    def num_active_params(self, non_embedding: bool = False) -> int:
        """Parameters one token passes through: num_params less the routed experts it is not sent to (E - k of
        E in each MoE layer). Equals num_params for a dense model."""
        n = self.num_params(non_embedding)
        for block in self.blocks:
            if isinstance(block.mlp, MoE):
                e = block.mlp.experts
                per_expert = sum(p[0].numel() for p in (e.up_proj, e.gate_proj, e.down_proj) if p is not None)
                n -= (block.mlp.num_experts - block.mlp.top_k) * per_expert
        return n

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, *, mask: torch.Tensor | None = None,
                caches: list[KVCache] | None = None, pos: int = 0, last_only: bool = False,
                reduction: str = "mean", return_aux: bool = False):
        """idx: (B, T) token ids. targets: (B, T) next-token ids with -100 where no loss is taken.

        Returns (logits, loss): logits (B, T, V) — or (B, 1, V) with last_only — and the cross-entropy or None:
        reduction "mean" over the tokens that carry loss, "sum" over them, or "none" per token (B, T), 0 at -100
        (its negation is each target's log-prob, which DPO, PPO and GRPO sum over reply tokens).
        mask: optional bool attention mask (B, 1, T, S), True = may attend (used for padded batches).
        return_aux: also return the MoE layers' RouterStats, averaged over them (None for a dense model), as a
        third value: its `loss` (the coefficient-weighted router losses) is what a training stage adds to its own.
        """
        B, T = idx.shape
        if pos + T > self.cfg.max_seq_len:
            raise ValueError(f"sequence of {pos + T} tokens exceeds model.max_seq_len {self.cfg.max_seq_len}")
        cos, sin = self.rope_cos[pos:pos + T], self.rope_sin[pos:pos + T]      # (T, D/2)
        if mask is None and caches is not None and pos > 0 and T > 1:
            # New tokens after a cached prefix: causal, aligned to the end of the keys (T, pos+T).
            mask = torch.ones(T, pos + T, dtype=torch.bool, device=idx.device).tril(diagonal=pos)
        x = self.embed(idx)                                                   # (B, T, C)
        routed: list[RouterStats] = []
        for i, block in enumerate(self.blocks):
            x, stats = block(x, cos, sin, mask, caches[i] if caches is not None else None, pos)
            if stats is not None:
                routed.append(stats)
        x = self.norm(x)                                                      # (B, T, C)
        if last_only:
            x = x[:, -1:, :]                                                  # (B, 1, C)
        if targets is not None and reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be mean, sum or none, got {reduction!r}")
        logits, loss = self.output(x, targets, reduction)
        if return_aux:
            return logits, loss, RouterStats.mean(routed) if routed else None
        return logits, loss

    def output(self, x: torch.Tensor, targets: torch.Tensor | None, reduction: str):
        """The head's logits (B, T, V) of the final-norm hidden states x and their cross-entropy against targets
        (or None)."""
        logits = self.lm_head(x)                                              # (B, T, V)
        return logits, None if targets is None else self.token_loss(logits, targets, reduction)

    def token_loss(self, logits: torch.Tensor, targets: torch.Tensor, reduction: str) -> torch.Tensor:
        """Cross-entropy of the logits against targets. Its own function so that torch.compile can fuse it
        (model/apply.py): compiled, the fp32 upcast of the logits happens inside the softmax kernels and the
        (B, T, V) fp32 copy is never written. The head stays outside the compiled region, so a caller that drops
        the logits (most losses) costs no zero-filled (B, T, V) gradient for them in the compiled backward."""
        flat = targets.reshape(-1)
        per_token = reduction == "none"
        if torch.compiler.is_compiling() and logits.device.type == "cpu":
            # compiled on a CPU: the gradient written out (model/cross_entropy.py), one pass fewer than inductor's
            loss = cross_entropy(logits.view(-1, logits.size(-1)), flat)
            loss = loss if per_token else loss.sum()
        else:
            loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), flat, ignore_index=IGNORE,
                                   reduction="none" if per_token else "sum")
        if per_token:
            return loss.view(targets.shape)                                   # (B, T)
        if reduction == "mean":
            # Over the tokens that carry loss; a batch with none (e.g. a truncated chat) gives 0, not NaN.
            loss = loss / (flat != IGNORE).sum().clamp(min=1)
        return loss

    def new_caches(self, batch_size: int, max_len: int | None = None, dtype=None, device=None) -> list[KVCache]:
        """Empty KV caches for generation, one per layer."""
        max_len = max_len or self.cfg.max_seq_len
        dtype = dtype or self.embed.weight.dtype
        device = device or self.embed.weight.device
        shape = (batch_size, self.cfg.n_kv_head, max_len, self.cfg.head_dim)
        return [KVCache(torch.zeros(shape, dtype=dtype, device=device), torch.zeros(shape, dtype=dtype, device=device))
                for _ in self.blocks]
