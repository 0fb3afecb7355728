"""Looking inside a reply: each token's probability with the model's top alternatives, and the attention weights
of one layer and head, for the studio's token and attention views.

It runs ONE teacher-forced forward pass over prompt + finished reply, only when asked (`inspect` on
`serve --stdio`), so normal chat pays nothing. Probabilities are the model's own (temperature 1, no top-k/top-p):
what the model believed, not the sampling distribution. The attention weights are recomputed for the chosen layer
from its own projections, because the fused SDPA kernel never materialises them:

    A = softmax(Q K^T / sqrt(d_h) + causal mask),    Q = RoPE(W_q RMSNorm(x)), K = RoPE(W_k RMSNorm(x))

The pass reads the model's modules without hooks or state, so it is safe beside the decoding thread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from engine.model.gpt import GPT, apply_rope
from engine.tokenizer import Tokenizer

TOP_K = 5
_BYTE_FOR_CHAR: dict[str, int] | None = None


def _byte_alphabet() -> dict[str, int]:
    """Byte-level BPE writes each byte as one printable character; this maps those characters back to bytes."""
    global _BYTE_FOR_CHAR
    if _BYTE_FOR_CHAR is None:
        printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
        chars, extra = {}, 0
        for b in range(256):
            if b in printable:
                chars[chr(b)] = b
            else:
                chars[chr(256 + extra)] = b
                extra += 1
        _BYTE_FOR_CHAR = chars
    return _BYTE_FOR_CHAR


def token_text(tok: Tokenizer, token_id: int) -> str:
    """A token as readable text: its characters, or its bytes in hex when it holds part of a character
    (byte-level BPE can split one Chinese character over several tokens)."""
    text = tok.decode([token_id])
    if "\ufffd" not in text and text.replace("\n", "").replace("\t", "").replace("\r", "").isprintable():
        return text
    raw = tok.hf.id_to_token(token_id) or ""
    alphabet = _byte_alphabet()
    if raw and all(c in alphabet for c in raw):
        return "⟨" + " ".join(f"{alphabet[c]:02x}" for c in raw) + "⟩"
    return text


@dataclass
class Inspection:
    tokens: list[dict]            # every token: {"id", "text", "reply"}; reply tokens add "prob" and "top"
    reply_start: int              # index of the first reply token
    layer: int
    head: int | None              # None = the mean over heads
    attention: list[list[float]]  # one row per reply token: weights over tokens 0 .. its producing position

    def to_event(self) -> dict:
        return {"tokens": self.tokens, "reply_start": self.reply_start, "layer": self.layer, "head": self.head,
                "attention": self.attention}


def attention_weights(model: GPT, layer: int, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """(H, T, T) attention probabilities of block `layer` for its input stream x: (1, T, C)."""
    block = model.blocks[layer]
    attn = block.attn
    h = block.attn_norm(x)
    T = x.shape[1]
    q = attn.q_proj(h).view(1, T, attn.n_head, attn.head_dim).transpose(1, 2)
    k = attn.k_proj(h).view(1, T, attn.n_kv_head, attn.head_dim).transpose(1, 2)
    q, k = apply_rope(attn.q_norm(q), cos, sin), apply_rope(attn.k_norm(k), cos, sin)
    k = k.repeat_interleave(attn.n_head // attn.n_kv_head, dim=1)
    scores = (q.float() @ k.float().transpose(-1, -2)) / math.sqrt(attn.head_dim)      # (1, H, T, T)
    causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
    return scores.masked_fill(~causal, float("-inf")).softmax(-1)[0]                  # (H, T, T)


@torch.no_grad()
def inspect_reply(model: GPT, tok: Tokenizer, prompt: list[int], reply: list[int], layer: int | None = None,
                  head: int | None = None, top_k: int = TOP_K) -> Inspection:
    """Token probabilities and one layer's attention for `reply` following `prompt` (both token ids)."""
    cfg = model.cfg
    layer = cfg.n_layer - 1 if layer is None else layer
    if not 0 <= layer < cfg.n_layer:
        raise ValueError(f"layer must be 0 .. {cfg.n_layer - 1}, got {layer}")
    if head is not None and not 0 <= head < cfg.n_head:
        raise ValueError(f"head must be 0 .. {cfg.n_head - 1} (or null for the mean), got {head}")
    ids = (prompt + reply)[-cfg.max_seq_len:]      # a chat longer than the context keeps its end
    start = max(len(ids) - len(reply), 0)
    device = model.embed.weight.device
    idx = torch.tensor([ids], dtype=torch.long, device=device)
    T = idx.shape[1]
    cos, sin = model.rope_cos[:T], model.rope_sin[:T]
    x = model.embed(idx)
    weights = None
    for i, block in enumerate(model.blocks):
        if i == layer:
            weights = attention_weights(model, i, x, cos, sin)
        x, _ = block(x, cos, sin)     # (x, the MoE router's stats or None)
    logprobs = model.lm_head(model.norm(x)).float().log_softmax(-1)[0]                # (T, V)
    probs = logprobs.exp()
    top_p, top_i = probs.topk(min(top_k, probs.shape[-1]), dim=-1)                    # (T, k)
    tokens = []
    for t, token_id in enumerate(ids):
        entry = {"id": token_id, "text": token_text(tok, token_id), "reply": t >= start}
        if t >= start and t > 0:  # position t-1's output chose token t
            entry["prob"] = round(float(probs[t - 1, token_id]), 6)
            entry["top"] = [{"id": int(i), "text": token_text(tok, int(i)), "prob": round(float(p), 6)}
                            for p, i in zip(top_p[t - 1].tolist(), top_i[t - 1].tolist(), strict=True)]
        tokens.append(entry)
    chosen = weights.mean(0) if head is None else weights[head]                       # (T, T)
    rows = [[round(float(w), 5) for w in chosen[t - 1, :t].tolist()] for t in range(max(start, 1), T)]
    return Inspection(tokens, start, layer, head, rows)
