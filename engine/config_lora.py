"""The `lora:` section: low-rank adapters trained on a frozen base checkpoint (rank 0 = off, full fine-tuning).

Only the names and bounds live here; which layers exist is the model's, checked when the adapters are applied
(engine/model/lora.py). No torch.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from engine.config_base import _require, knob

# The Linear layers of a block (engine/model/gpt.py) an adapter can sit on.
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
LORA_TARGETS = (*PROJECTIONS, "embed")  # embed: the token embedding (and the output head tied to it)
# How many special tokens our tokenizers have (engine/tokenizer.py SPECIAL_TOKENS, which needs the `tokenizers`
# package; a test holds the two equal): the rows lora.train_special_tokens trains, for the torch-free estimate.
SPECIAL_TOKEN_COUNT = 8


@dataclass(kw_only=True)
class LoraConfig:
    rank: int = knob(0, "LoRA rank r: train r x (in + out) adapter weights per targeted layer, base frozen (0 = off).")
    alpha: float = knob(64.0, "LoRA alpha: the adapter's output is scaled by alpha / rank; with Adam a larger "
                        "alpha makes the update grow faster from its zero start (lora.lr_ratio sets the step size).")
    lr_ratio: float = knob(3.0, "The adapters' learning rate as a multiple of optim.lr (the schedule is the same): "
                           "a few thousand low-rank weights want larger steps than full fine-tuning's. Tiny preset, "
                           "300 SFT steps at optim.lr 1e-3: val loss 0.793 at 1x, 0.750 at 3x.")
    dora: bool = knob(False, "DoRA: also train one magnitude per output of each adapted layer, W' = m * (W + "
                      "(alpha / r) B A) / ||W + (alpha / r) B A|| per output row (d_out more weights per layer). "
                      "Tiny preset, r4, 600 SFT steps: val loss 0.624 vs LoRA's 0.645 (0.486 vs 0.496 on a "
                      "longer-pretrained base); after 300 steps 0.745 vs 0.750 (the same 0.542 on that base).")
    dropout: float = knob(0.0, "Dropout on the adapter's input (the base path never drops).")
    targets: list[str] = knob(list(PROJECTIONS), "Layers that get adapters: q_proj, k_proj, v_proj, o_proj "
                              "(attention), gate_proj, up_proj, down_proj (MLP) and embed (the token embedding, "
                              "with the output head tied to it: r x (vocab + d_model) weights).")
    train_special_tokens: bool = knob(True, "Also train the embedding (and tied output) rows of the tokenizer's "
                                      "special tokens (<|im_start|>, <|im_end|>, ...): a few thousand numbers that "
                                      "let the model learn a chat format its base never saw.")
    train_frequent_tokens: int = knob(0, "Also train the embedding (and tied output) rows of this many of the "
                                      "training data's most frequent tokens: the words the fine-tuning is about "
                                      "(0 = none; each row is d_model numbers).")

    def __post_init__(self) -> None:
        _require(self.rank >= 0, "lora.rank", f"must be >= 0 (0 = off), got {self.rank}", "typical values: 4 .. 64")
        _require(0 < self.alpha < float("inf"), "lora.alpha", f"must be positive, got {self.alpha}",
                 "64 (the default) suits ranks 4 .. 16")
        _require(0 < self.lr_ratio < float("inf"), "lora.lr_ratio", f"must be positive, got {self.lr_ratio}",
                 "3 (the default); 1 trains the adapters at optim.lr itself")
        _require(0.0 <= self.dropout < 1.0, "lora.dropout", "must be in [0, 1)")
        _require(bool(self.targets), "lora.targets", "names no layer", f"use some of: {', '.join(LORA_TARGETS)}")
        for name in self.targets:
            if name in LORA_TARGETS:
                continue
            close = difflib.get_close_matches(name, LORA_TARGETS, n=1)   # only for the refusal: it is slow
            _require(False, "lora.targets", f"{name!r} is not a projection of the model",
                     f"did you mean {close[0]}?" if close else f"use some of: {', '.join(LORA_TARGETS)}")
        _require(len(set(self.targets)) == len(self.targets), "lora.targets", "names a layer twice")
        _require(self.train_frequent_tokens >= 0, "lora.train_frequent_tokens",
                 f"must be >= 0, got {self.train_frequent_tokens}", "0 trains no frequent-token rows")

    @property
    def token_rows(self) -> int:
        """Embedding rows that train beside the adapters: special and frequent tokens (0 when LoRA is off; the
        frequent ones assume the data has that many distinct other tokens)."""
        return (SPECIAL_TOKEN_COUNT * self.train_special_tokens + self.train_frequent_tokens) if self.rank else 0

    @property
    def scaling(self) -> float:
        return self.alpha / self.rank if self.rank else 0.0
