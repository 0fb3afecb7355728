"""Trainable rows of the token embedding (and output head) for a few chosen tokens, beside frozen LoRA weights.

LoRA freezes the embedding, so a token the base never saw in pretraining (the chat template's <|im_start|> and
<|im_end|>) keeps the row pretraining left it, and with a tied head the model can hardly learn to *predict* the end
of its turn. Here each chosen token id i gets a trainable update d_i (zero at start):

    embed'(i) = E[i] + d_i                logits'_i = h . (W[i] + d_i)    (tied: W = E, the same d)

so only k x d_model numbers train (k ids). Merging adds d into the rows: E[ids] += d. Same idea as PEFT's
`trainable_token_indices`; written here as an additive, zero-initialised update like LoRA's B = 0.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

ROWS, IDS = "token_rows", "token_ids"


class TokenRowsEmbedding(nn.Embedding):
    """An nn.Embedding that takes over a base embedding's weight (same tensor, same name) and adds a trainable
    update to the rows of `token_ids`."""

    def __init__(self, base: nn.Embedding, token_ids: torch.Tensor):
        nn.Module.__init__(self)
        self.num_embeddings, self.embedding_dim = base.num_embeddings, base.embedding_dim
        self.padding_idx, self.max_norm, self.norm_type = base.padding_idx, base.max_norm, base.norm_type
        self.scale_grad_by_freq, self.sparse = base.scale_grad_by_freq, base.sparse
        self.weight = base.weight
        w = base.weight
        self.register_buffer(IDS, token_ids.to(device=w.device, dtype=torch.long))
        self.token_rows = nn.Parameter(torch.zeros(len(token_ids), self.embedding_dim, device=w.device,
                                                   dtype=w.dtype))
        # slot[i] = the row of d for token i, or k (a zero row appended in forward) for every other token
        slot = torch.full((self.num_embeddings,), len(token_ids), dtype=torch.long, device=w.device)
        slot[self.token_ids] = torch.arange(len(token_ids), device=w.device)
        self.register_buffer("token_slot", slot, persistent=False)
        self.adapter_enabled = True

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = F.embedding(idx, self.weight)                                     # (B, T, C)
        if not self.adapter_enabled:
            return x
        rows = torch.cat([self.token_rows, self.token_rows.new_zeros(1, self.embedding_dim)])   # (k + 1, C)
        return x + F.embedding(self.token_slot[idx], rows)                    # (B, T, C)


class TokenRowsHead(nn.Linear):
    """The output projection with the same update on the logits of `token_ids`: h W^T, plus h d^T added to those
    k columns. `rows` is the embedding's parameter when the head is tied to it (one d, as one W)."""

    def __init__(self, base: nn.Linear, token_ids: torch.Tensor, rows: nn.Parameter | None):
        nn.Module.__init__(self)
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight, self.bias = base.weight, base.bias
        w = base.weight
        self.register_buffer(IDS, token_ids.to(device=w.device, dtype=torch.long))
        self.token_rows = rows if rows is not None else nn.Parameter(
            torch.zeros(len(token_ids), self.in_features, device=w.device, dtype=w.dtype))
        self.adapter_enabled = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight, self.bias)                               # (B, T, V)
        if not self.adapter_enabled:
            return y
        return y.index_add(-1, self.token_ids, F.linear(x, self.token_rows))  # (B, T, k) onto k of V columns


def apply_token_rows(model: nn.Module, token_ids: list[int]) -> int:
    """Give `model.embed` (and `model.lm_head`, sharing the update when tied) trainable rows for token_ids, in
    place. Returns the number of numbers that train. Ids outside the vocabulary are a ValueError."""
    ids = sorted(set(token_ids))
    vocab = model.embed.num_embeddings
    if not ids or ids[0] < 0 or ids[-1] >= vocab:
        raise ValueError(f"token ids {ids} do not fit a vocabulary of {vocab}")
    ids_t = torch.tensor(ids, dtype=torch.long)
    tied = model.lm_head.weight is model.embed.weight
    model.embed = TokenRowsEmbedding(model.embed, ids_t)
    # tied: the head's ids and rows are the embedding's tensors (saved once); untied: its own
    model.lm_head = TokenRowsHead(model.lm_head, model.embed.token_ids if tied else ids_t.clone(),
                                  model.embed.token_rows if tied else None)
    return model.embed.token_rows.numel() + (0 if tied else model.lm_head.token_rows.numel())


def merge_token_rows(out: dict[str, torch.Tensor], base_state: dict[str, torch.Tensor],
                     adapters: dict[str, torch.Tensor], layer: str) -> None:
    """W[ids] += d for the `layer` (embed or lm_head) in `out`, in fp32, stored in W's dtype. A tied head's
    update is the embedding's, so when `lm_head.weight` is not saved it follows the embedding on load."""
    w = base_state[f"{layer}.weight"]
    ids, rows = adapters[f"{layer}.{IDS}"].long(), adapters[f"{layer}.{ROWS}"].float()
    out[f"{layer}.weight"] = w.float().index_add(0, ids, rows).to(w.dtype)
    head = base_state.get("lm_head.weight")
    if layer == "embed" and f"lm_head.{ROWS}" not in adapters and head is not None and torch.equal(head, w):
        out["lm_head.weight"] = out["embed.weight"]  # a tied model's full state dict holds the shared W twice
