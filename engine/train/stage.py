"""What a training stage must say: its record kind, how batches are built, and its loss.

Everything else (set-up, accumulation, precision, clipping, schedule, eval, checkpoints, events) is the
shared loop's. Pretrain and SFT differ only in their batches; DPO, reward, PPO and GRPO add their own loss.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from engine.config import Config
from engine.data.pretokenize import TokenizedSet
from engine.tokenizer import Tokenizer


class Stage:
    name: str = ""
    kind: str = ""            # record kind read from data files
    chat: bool = False        # sample prompts are wrapped in the chat template (task evals always are)

    def units(self, data: TokenizedSet, cfg: Config) -> int:
        """How many items (blocks or conversations) the split and the batches walk over."""
        raise NotImplementedError

    def batches(self, data: TokenizedSet, items: np.ndarray, cfg: Config, tok: Tokenizer, shuffle: bool) -> Iterator:
        """An endless iterator of batches with state_dict()/load_state_dict() cursors."""
        raise NotImplementedError

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        """Mean loss of one micro-batch and stage extras (tensors, read only when logging)."""
        _, loss = model(batch["x"], batch["y"])
        return loss, {}

    def count_tokens(self, batch: dict[str, torch.Tensor]) -> int:
        return batch["x"].numel()
