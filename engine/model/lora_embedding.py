"""Trainable updates of the frozen token embedding (and the output head tied to it), beside the LoRA adapters.

Two updates, each zero at start, each merged into E by `merge_embedding`:
- special-token rows (lora.train_special_tokens): a free row d_i for each chosen token id i. The chat template's
  <|im_start|> / <|im_end|> may never occur in pretraining, and their rows stay where it left them. PEFT calls the
  idea `trainable_token_indices`; here it is an additive update, so k x d_model numbers train.
- a low-rank update (target `embed` in lora.targets): (alpha / r) B A, B (V, r), A (r, d_model), as LoRALinear.

    E' = E + (alpha / r) B A + R      (R: d_i in row i of each chosen token, zero elsewhere)
    embed'(i) = E'[i]                 logits' = h E'^T   (tied head: the same E')

E' is built in each forward (V x d_model numbers, far fewer than the (B, T, V) logits a separate update of the
head would copy), with the same operations `merge_embedding` uses, so a merged checkpoint's rows are equal bit for
bit in fp32.
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
        self.scaling = alpha / rank if rank else 0.0
        if rank:
            # A = 0 so the update starts at zero; B spread like a Linear's A over d_model inputs
            self.lora_A = nn.Parameter(torch.zeros(rank, d, device=w.device, dtype=w.dtype))
            self.lora_B = nn.Parameter(torch.empty(v, rank, device=w.device, dtype=w.dtype))
            nn.init.uniform_(self.lora_B, -1 / math.sqrt(d), 1 / math.sqrt(d))
        else:
            self.lora_A = self.lora_B = None
        self.adapter_enabled = True

    def adapted_weight(self) -> torch.Tensor:
        """E' = E + (alpha / r) B A + R, shape (V, C); E itself when the adapters are off."""
        w = self.weight
        if not self.adapter_enabled:
            return w
        if self.lora_A is not None:
            w = w + (self.lora_B @ self.lora_A) * self.scaling               # (V, r) @ (r, C)
        if self.token_rows is not None:
            w = w.index_add(0, self.token_ids, self.token_rows)              # row i += d_i
        return w

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return F.embedding(idx, self.adapted_weight())                        # (B, T, C)


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
        tied = self._tied[0]
        if tied is not None:  # the embedding's E', switched on and off with it
            return F.linear(h, tied.adapted_weight(), self.bias)              # (B, T, V)
        w = self.weight
        if self.adapter_enabled and self.token_rows is not None:
            w = w.index_add(0, self.token_ids, self.token_rows)
        return F.linear(h, w, self.bias)                                      # (B, T, V)


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
        merged = merged + (adapters[f"{layer}.lora_B"].float() @ adapters[f"{layer}.lora_A"].float()) * scaling
    if f"{layer}.{ROWS}" in adapters:
        merged = merged.index_add(0, adapters[f"{layer}.{IDS}"].long(), adapters[f"{layer}.{ROWS}"].float())
    out[f"{layer}.weight"] = merged.to(w.dtype)
    head = base_state.get("lm_head.weight")
    if layer == "embed" and not any(k.startswith("lm_head.") for k in adapters) and head is not None \
            and torch.equal(head, w):
        out["lm_head.weight"] = out["embed.weight"]
