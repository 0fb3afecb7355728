"""Pretraining: next-token prediction on packed text blocks. Only the batches differ from the shared loop."""

from __future__ import annotations

from engine.data.loaders import PretrainBatches
from engine.train.stage import Stage


class PretrainStage(Stage):
    name = "pretrain"
    kind = "pretrain"
    chat = False

    def units(self, data, cfg):
        return PretrainBatches.block_count(data, cfg.data.seq_len)

    def batches(self, data, items, cfg, tok, shuffle):
        return PretrainBatches(data, items, cfg.data.seq_len, cfg.run.batch_size, cfg.run.seed, shuffle=shuffle)
