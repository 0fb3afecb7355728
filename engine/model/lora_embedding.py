"""Trainable updates of the frozen token embedding (and the output head tied to it), beside the LoRA adapters.

Two updates, each zero at start, each merged into E by `merge_embedding`:
- special-token rows (lora.train_special_tokens): a free row d_i for each chosen token id i. The chat template's
  <|im_start|> / <|im_end|> may never occur in pretraining, and their rows stay where it left them. PEFT calls the
  idea `trainable_token_indices`; here it is an additive update, so k x d_model numbers train.
- a low-rank update (target `embed` in lora.targets): (alpha / r) B A, B (V, r), A (r, d_model), as LoRALinear.

    E' = E + (alpha / r) B A + R      (R: d_i in row i of each chosen token, zero elsewhere)
    embed'(i) = E'[i]                 logits' = h E'^T   (tied head: the same E')

The head is computed without building E': h E^T + (alpha / r) (h A^T) B^T, plus h d_i^T added to column i.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

ROWS, IDS = "token_rows", "token_ids"


class AdaptedEmbedding(nn.Embedding):
    """An nn.Embedding that takes over a base embedding's weight (same tensor, same name) and adds the updates."""

    def __init__(self, base: nn.Embedding, token_ids: list[int], rank: int, alpha: float):
        nn.Module.__init__(self)
        self.num_embeddings, self.embedding_dim = base.num_embeddings, base.embedding_dim
        self.padding_idx, self.max_norm, self.norm_type = base.padding_idx, base.max_norm, base.norm_type
        self.scale_grad_by_freq, self.sparse = base.scale_grad_by_freq, base.sparse
        self.weight = base.weight
        w, k, v, d = base.weight, len(token_ids), self.num_embeddings, self.embedding_dim
        self.token_rows = None
        if k:
            self.register_buffer(IDS, torch.tensor(token_ids, dtype=torch.long, device=w.device))
            self.token_rows = nn.Parameter(torch.zeros(k, d, device=w.device, dtype=w.dtype))
            # slot[i] = the row of R for token i, or k (a zero row appended in forward) for every other token
            slot = torch.full((v,), k, dtype=torch.long, device=w.device)
            slot[self.token_ids] = torch.arange(k, device=w.device)
            self.register_buffer("token_slot", slot, persistent=False)
        self.scaling = alpha / rank if rank else 0.0
        if rank:
            # A = 0 so the update starts at zero; B spread like a Linear's A over d_model inputs
            self.lora_A = nn.Parameter(torch.zeros(rank, d, device=w.device, dtype=w.dtype))
            self.lora_B = nn.Parameter(torch.empty(v, rank, device=w.device, dtype=w.dtype))
            nn.init.uniform_(self.lora_B, -1 / math.sqrt(d), 1 / math.sqrt(d))
        else:
            self.lora_A = self.lora_B = None
        self.adapter_enabled = True

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = F.embedding(idx, self.weight)                                     # (B, T, C)
        if not self.adapter_enabled:
            return x
        if self.lora_A is not None:
            x = x + F.embedding(idx, self.lora_B) @ self.lora_A * self.scaling  # (B, T, r) @ (r, C)
        if self.token_rows is not None:
            rows = torch.cat([self.token_rows, self.token_rows.new_zeros(1, self.embedding_dim)])   # (k + 1, C)
            x = x + F.embedding(self.token_slot[idx], rows)
        return x

    def delta_logits(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """y = h E^T (B, T, V) plus what the updates add to a head tied to this embedding."""
        if self.lora_A is not None:
            y = y + F.linear(F.linear(h, self.lora_A), self.lora_B) * self.scaling   # (B, T, r) -> (B, T, V)
        if self.token_rows is not None:
            y = y.index_add(-1, self.token_ids, F.linear(h, self.token_rows))      # (B, T, k) onto k columns
        return y


class AdaptedHead(nn.Linear):
    """The output projection: h W^T, plus the tied embedding's updates (`tied_to`) or its own special-token rows."""

    def __init__(self, base: nn.Linear, tied_to: AdaptedEmbedding | None, token_ids: list[int]):
        nn.Module.__init__(self)
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight, self.bias = base.weight, base.bias
        self._tied = [tied_to]  # a list, so the embedding is not registered as a second child module
        w = base.weight
        self.token_rows = None
        if tied_to is None and token_ids:
            self.register_buffer(IDS, torch.tensor(token_ids, dtype=torch.long, device=w.device))
            self.token_rows = nn.Parameter(torch.zeros(len(token_ids), self.in_features, device=w.device,
                                                       dtype=w.dtype))
        self.adapter_enabled = True

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        y = F.linear(h, self.weight, self.bias)                               # (B, T, V)
        tied = self._tied[0]
        if tied is not None:  # switched on and off with the embedding it is tied to
            return tied.delta_logits(h, y) if tied.adapter_enabled else y
        if self.adapter_enabled and self.token_rows is not None:
            y = y.index_add(-1, self.token_ids, F.linear(h, self.token_rows))   # (B, T, k) onto k columns
        return y


def apply_embedding_adapters(model: nn.Module, token_ids: list[int], rank: int, alpha: float) -> int:
    """Give `model.embed` trainable rows for token_ids and, with rank > 0, a low-rank update; a tied
    `model.lm_head` follows the embedding, an untied one gets its own rows. In place; returns the count that
    trains. Ids outside the vocabulary are a ValueError."""
    ids = sorted(set(token_ids))
    vocab = model.embed.num_embeddings
    if ids and (ids[0] < 0 or ids[-1] >= vocab):
        raise ValueError(f"token ids {ids} do not fit a vocabulary of {vocab}")
    tied = model.lm_head.weight is model.embed.weight
    model.embed = AdaptedEmbedding(model.embed, ids, rank, alpha)
    model.lm_head = AdaptedHead(model.lm_head, model.embed if tied else None, [] if tied else ids)
    return sum(p.numel() for m in (model.embed, model.lm_head) for p in m.parameters(recurse=False)
               if p.requires_grad)


def merge_embedding(out: dict[str, torch.Tensor], base_state: dict[str, torch.Tensor],
                    adapters: dict[str, torch.Tensor], layer: str, scaling: float) -> None:
    """W + scaling B A + R for `layer` (embed or an untied lm_head) in `out`, in fp32, stored in W's dtype. A tied
    model's full state dict holds the shared W twice: its `lm_head.weight` follows the merged embedding."""
    w = base_state[f"{layer}.weight"]
    merged = w.float()
    if f"{layer}.lora_A" in adapters:
        merged = merged + scaling * (adapters[f"{layer}.lora_B"].float() @ adapters[f"{layer}.lora_A"].float())
    if f"{layer}.{ROWS}" in adapters:
        merged = merged.index_add(0, adapters[f"{layer}.{IDS}"].long(), adapters[f"{layer}.{ROWS}"].float())
    out[f"{layer}.weight"] = merged.to(w.dtype)
    head = base_state.get("lm_head.weight")
    if layer == "embed" and not any(k.startswith("lm_head.") for k in adapters) and head is not None \
            and torch.equal(head, w):
        out["lm_head.weight"] = out["embed.weight"]
