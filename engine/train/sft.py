"""Supervised fine-tuning: ChatML conversations, loss only on assistant replies and their <|im_end|>.

The batches carry -100 targets on every other token, so the shared summed cross-entropy over the target tokens
(Stage.loss, Stage.count_units) is the whole loss: a step weighs every reply token alike, however the replies fall
into micro-batches.
"""

from __future__ import annotations

from engine.data.loaders import SFTBatches
from engine.train.stage import Stage


class SFTStage(Stage):
    name = "sft"
    kind = "sft"
    chat = True

    def units(self, data, cfg):
        return data.n_docs

    def batches(self, data, items, cfg, tok, shuffle):
        return SFTBatches(data, items, cfg.data.seq_len, cfg.run.batch_size, cfg.run.seed, pad_id=tok.pad_id,
                          packing=cfg.data.packing, shuffle=shuffle)
