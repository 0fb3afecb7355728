"""What the two preference stages (DPO, reward model) share: pairs as batches, the pairs a run skips, and one pass
over held-out pairs. A pair's loss unit is the pair itself, so a step weighs every pair alike.

Knows the preference set's layout (engine/data/pretokenize.py) and loader (engine/data/loaders.py), not any loss.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch

from engine.data.loaders import PreferenceBatches, usable_pairs
from engine.data.pretokenize import TokenizedSet
from engine.train.stage import Stage, StageContext

if TYPE_CHECKING:
    from engine.train.loop import Trainer

QUOTED = 3  # file:line examples named per kind of skip


class PairStage(Stage):
    kind = "preference"
    chat = True
    lm_loss = False

    def __init__(self) -> None:
        self._kept: dict[str, np.ndarray] = {}        # per tokenized set (its folder): usable pair indices
        self._skips: list[str] = []                   # log lines, sent once set-up has a sink

    # ------------------------------------------------------------------ data
    def units(self, data: TokenizedSet, cfg) -> int:
        key = str(data.folder)
        if key not in self._kept:
            kept, long, ties = usable_pairs(data, cfg.data.seq_len)
            self._kept[key] = kept
            if long:
                self._skips.append(f"skipped {len(long):,} of {data.n_docs // 2:,} preference pairs longer than "
                                   f"data.seq_len {cfg.data.seq_len} tokens with the prompt kept, e.g. "
                                   + ", ".join(data.where(p) for p in long[:QUOTED]))
            if ties:
                self._skips.append(f"skipped {len(ties):,} tied pairs (no preferred side), e.g. "
                                   + ", ".join(data.where(p) for p in ties[:QUOTED]))
        return len(self._kept[key])

    def batches(self, data, items, cfg, tok, shuffle) -> Iterator:
        return PreferenceBatches(data, self._kept[str(data.folder)][items], cfg.run.batch_size, cfg.run.seed,
                                 pad_id=tok.pad_id, shuffle=shuffle)

    def setup(self, ctx: StageContext) -> None:
        for line in self._skips:
            ctx.sink.log(line, "warning")

    # ------------------------------------------------------------------ units
    def count_units(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Pairs in the micro-batch (half its rows)."""
        return torch.tensor(batch["ids"].shape[0] // 2)

    def count_tokens(self, batch: dict[str, torch.Tensor]) -> int:
        return batch["ids"].numel()

    def split_batch(self, batch: dict[str, torch.Tensor], parts: int) -> list[dict[str, torch.Tensor]]:
        """Pairs into `parts` micro-batches, each again its chosen rows first, then their rejected rows."""
        if parts == 1:
            return [batch]
        b = batch["ids"].shape[0] // 2
        out = []
        for idx in torch.arange(b).tensor_split(parts):
            if len(idx):
                rows = torch.cat([idx, idx + b])
                out.append({k: v[rows] for k, v in batch.items()})
        return out

    # ------------------------------------------------------------------ held-out pairs
    def val_pairs(self, trainer: Trainer) -> Iterator[dict[str, torch.Tensor]]:
        """Up to run.eval_batches x run.batch_size held-out pairs, each once, in file order, on the device."""
        p, cfg = trainer.p, trainer.cfg
        pairs = self._kept[str(p.val_set.folder)][p.val_items][:cfg.run.eval_batches * cfg.run.batch_size]
        for i in range(0, len(pairs), cfg.run.batch_size):
            chunk = pairs[i:i + cfg.run.batch_size]
            batch = next(PreferenceBatches(p.val_set, chunk, len(chunk), 0, p.tok.pad_id, shuffle=False))
            yield {k: v.to(trainer.rt.device) for k, v in batch.items()}

    def eval_batch(self, model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        """(summed loss, per-pair means) of one held-out batch; by default the training loss and its extras."""
        return self.loss(model, batch)

    def pair_eval(self, trainer: Trainer) -> tuple[float, dict]:
        """(mean loss per pair, mean of each metric over pairs) on the held-out pairs, in eval mode without grad."""
        model = trainer.model
        was_training = model.training
        model.eval()
        for m in self.trainable().values():
            m.eval()
        loss_sum, n, sums = 0.0, 0, {}
        try:
            with torch.no_grad():
                for batch in self.val_pairs(trainer):
                    with trainer.rt.autocast():
                        loss, extras = self.eval_batch(model, batch)
                    b = batch["ids"].shape[0] // 2
                    loss_sum, n = loss_sum + float(loss), n + b
                    for k, v in extras.items():
                        sums[k] = sums.get(k, 0.0) + float(v) * b
        finally:
            model.train(was_training)
            for m in self.trainable().values():
                m.train(was_training)
        if n == 0:
            return float("nan"), {}
        return loss_sum / n, {k: v / n for k, v in sums.items()}


def reply_targets(batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) for next-token log-probs of the reply tokens only: ids (R, L) -> x, y (R, L - 1), with
    y = -100 on prompt tokens, role headers and padding (the mask is 0 there)."""
    ids, mask = batch["ids"], batch["mask"]
    y = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
    return ids[:, :-1], y
