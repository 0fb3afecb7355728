"""Batches from a TokenizedSet: packed pretrain blocks, SFT rows with loss only on assistant tokens, and preference
pairs (chosen and rejected side by side) for DPO and the reward model.

Each loader is an endless, seeded, resumable iterator: `state_dict()` is its cursor (epoch, position) and
`load_state_dict()` puts it back, so a resumed run sees exactly the batches it would have seen.
Batches are dicts of CPU int64 tensors "x" (B, T) and "y" (B, T), with y = -100 where no loss is taken.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.data.pretokenize import TokenizedSet
from engine.model.cross_entropy import IGNORE


def holdout_split(n: int, every: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices 0..n-1 split into (train, val): every `every`-th item is val (0 = no val)."""
    idx = np.arange(n)
    if every <= 0:
        return idx, idx[:0]
    is_val = (idx % every) == every - 1
    return idx[~is_val], idx[is_val]


class _SeededCursor:
    """An endless walk over `items` in a seeded order per epoch; the cursor is (epoch, index)."""

    def __init__(self, items: np.ndarray, seed: int, shuffle: bool):
        if len(items) == 0:
            raise ValueError("nothing to iterate over")
        self.items, self.seed, self.shuffle = items, seed, shuffle
        self.epoch, self.index = 0, 0
        self._order = self._make_order()

    def _make_order(self) -> np.ndarray:
        if not self.shuffle:
            return self.items
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return self.items[torch.randperm(len(self.items), generator=g).numpy()]

    def _take(self) -> int:
        if self.index >= len(self._order):
            self.epoch, self.index = self.epoch + 1, 0
            self._order = self._make_order()
        item = int(self._order[self.index])
        self.index += 1
        return item

    def _peek(self) -> int:
        """The next item, or -1 at the end of an epoch."""
        return int(self._order[self.index]) if self.index < len(self._order) else -1

    def __iter__(self):
        return self

    @property
    def epoch_progress(self) -> float:
        return self.epoch + self.index / len(self._order)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "index": self.index}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.index = int(state["epoch"]), int(state["index"])
        self._order = self._make_order()


class PretrainBatches(_SeededCursor):
    """Documents are concatenated into one stream and cut into blocks of seq_len + 1 tokens: no padding at all.

    An epoch visits the blocks in a seeded random order.
    """

    def __init__(self, data: TokenizedSet, blocks: np.ndarray, seq_len: int, batch_size: int, seed: int,
                 shuffle: bool = True):
        super().__init__(blocks, seed, shuffle)
        self.data, self.seq_len, self.batch_size = data, seq_len, batch_size

    @staticmethod
    def block_count(data: TokenizedSet, seq_len: int) -> int:
        return max(0, (data.n_tokens - 1) // seq_len)

    def __next__(self) -> dict[str, torch.Tensor]:
        rows = np.empty((self.batch_size, self.seq_len + 1), dtype=np.int64)
        for r in range(self.batch_size):
            start = self._take() * self.seq_len
            rows[r] = self.data.tokens[start:start + self.seq_len + 1]
        t = torch.from_numpy(rows)
        return {"x": t[:, :-1], "y": t[:, 1:].contiguous()}


class SFTBatches(_SeededCursor):
    """Conversations in a seeded order, each row holding whole conversations (packed) or one (padded).

    Targets are -100 wherever the mask is 0: system and user turns, role headers and padding carry no loss.
    A conversation longer than seq_len + 1 is cut at the end.
    """

    def __init__(self, data: TokenizedSet, docs: np.ndarray, seq_len: int, batch_size: int, seed: int,
                 pad_id: int, packing: bool = True, shuffle: bool = True):
        assert data.mask is not None, "SFT data needs a loss mask"
        super().__init__(docs, seed, shuffle)
        self.data, self.seq_len, self.batch_size = data, seq_len, batch_size
        self.pad_id, self.packing = pad_id, packing

    def _doc_len(self, d: int) -> int:
        return min(int(self.data.offsets[d + 1] - self.data.offsets[d]), self.seq_len + 1)

    def __next__(self) -> dict[str, torch.Tensor]:
        width = self.seq_len + 1
        ids = np.full((self.batch_size, width), self.pad_id, dtype=np.int64)
        mask = np.zeros((self.batch_size, width), dtype=np.uint8)
        longest = 0
        for r in range(self.batch_size):
            fill = 0
            while True:
                d = self._take()
                a, n = int(self.data.offsets[d]), self._doc_len(d)
                ids[r, fill:fill + n] = self.data.tokens[a:a + n]
                mask[r, fill:fill + n] = self.data.mask[a:a + n]
                fill += n
                nxt = self._peek()
                if not self.packing or nxt < 0 or fill + self._doc_len(nxt) > width:
                    break
            longest = max(longest, fill)
        if not self.packing:  # pad only to the longest conversation in this batch
            ids, mask = ids[:, :max(longest, 2)], mask[:, :max(longest, 2)]
        x = torch.from_numpy(ids[:, :-1].copy())
        y = torch.from_numpy(ids[:, 1:].copy())
        y[torch.from_numpy(mask[:, 1:].copy()) == 0] = IGNORE
        return {"x": x, "y": y}


def usable_pairs(data: TokenizedSet, max_len: int) -> tuple[np.ndarray, list[int], list[int]]:
    """Which preference pairs a stage can train on: (kept pair indices, too long, ties).

    A side longer than max_len tokens is not cut: the prompt must be kept whole and a cut reply would teach a
    preference for half an answer, so the pair is skipped. A tie (an A/B choice with no winner) is skipped too.
    """
    assert data.pairs is not None, "not a preference set"
    lengths = np.diff(data.offsets).reshape(-1, 2).max(axis=1)                    # (n_pairs,) longer side
    tie = data.pairs[:, 2].astype(bool)
    long = (lengths > max_len) & ~tie
    return np.flatnonzero(~long & ~tie), np.flatnonzero(long).tolist(), np.flatnonzero(tie).tolist()


class PreferenceBatches(_SeededCursor):
    """batch_size pairs per batch as 2B rows, the chosen sides first, then the rejected ones in the same order.

    A batch is {"ids" (2B, L), "mask" (2B, L) 1 on reply tokens and their <|im_end|>, "lengths" (2B,)}, right-padded
    with pad_id to the longest side in the batch. `pairs` are indices of pairs kept by usable_pairs.
    """

    def __init__(self, data: TokenizedSet, pairs: np.ndarray, batch_size: int, seed: int, pad_id: int,
                 shuffle: bool = True):
        assert data.mask is not None and data.pairs is not None, "not a preference set"
        super().__init__(pairs, seed, shuffle)
        self.data, self.batch_size, self.pad_id = data, batch_size, pad_id

    def __next__(self) -> dict[str, torch.Tensor]:
        picked = [self._take() for _ in range(self.batch_size)]
        docs = [2 * p for p in picked] + [2 * p + 1 for p in picked]                 # chosen rows, then rejected
        starts, ends = self.data.offsets[docs], self.data.offsets[np.asarray(docs) + 1]
        lengths = (ends - starts).astype(np.int64)
        ids = np.full((len(docs), int(lengths.max())), self.pad_id, dtype=np.int64)
        mask = np.zeros(ids.shape, dtype=np.int64)
        for r, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
            ids[r, :b - a] = self.data.tokens[a:b]
            mask[r, :b - a] = self.data.mask[a:b]
        return {"ids": torch.from_numpy(ids), "mask": torch.from_numpy(mask), "lengths": torch.from_numpy(lengths)}
