"""engine.data.loaders: packed pretrain blocks, SFT rows with assistant-only targets, resumable cursors, holdout."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from engine.data.loaders import IGNORE, PretrainBatches, SFTBatches, holdout_split
from engine.data.pretokenize import pretokenize

T = 16  # seq_len


def pretrain_docs() -> list[dict]:
    return [{"text": f"Doc {i}: {i * 7} + {i * 3} = {i * 10}. 第{i}篇文章。"} for i in range(60)]


def conversations() -> list[list[dict]]:
    out = []
    for i in range(24):
        conv = [{"role": "system", "content": f"S{i}"}, {"role": "user", "content": f"question {i}"}]
        conv.append({"role": "assistant", "content": f"REPLY{i}" + " ok" * (i % 5)})
        if i % 3 == 0:
            conv += [{"role": "user", "content": f"more {i}"}, {"role": "assistant", "content": f"AGAIN{i}"}]
        out.append(conv)
    return out


@pytest.fixture
def pre_set(tok, tmp_path, jsonl):
    return pretokenize([jsonl(tmp_path / "p.jsonl", pretrain_docs())], "pretrain", tok, tmp_path / "data")


@pytest.fixture
def sft_set(tok, tmp_path, jsonl):
    recs = [{"conversations": c} for c in conversations()]
    return pretokenize([jsonl(tmp_path / "s.jsonl", recs)], "sft", tok, tmp_path / "data")


def block_index(data, row: np.ndarray) -> int:
    """Which block a (T + 1)-token row is: it must be exactly one contiguous, block-aligned stream slice."""
    n = PretrainBatches.block_count(data, T)
    hits = [b for b in range(n) if np.array_equal(data.tokens[b * T:b * T + T + 1], row)]
    assert len(hits) == 1, hits
    return hits[0]


def test_pretrain_rows_are_contiguous_stream_slices_and_y_is_x_shifted(pre_set):
    n_blocks = PretrainBatches.block_count(pre_set, T)
    loader = PretrainBatches(pre_set, np.arange(n_blocks), T, batch_size=4, seed=0)
    batch = next(loader)
    x, y = batch["x"], batch["y"]
    assert x.shape == y.shape == (4, T) and x.dtype == y.dtype == torch.int64
    assert torch.equal(y[:, :-1], x[:, 1:])
    assert not torch.any(y == IGNORE) and not torch.any(x == IGNORE)
    for r in range(4):
        block_index(pre_set, torch.cat([x[r], y[r, -1:]]).numpy())


def test_pretrain_epoch_visits_every_block_exactly_once(pre_set):
    n_blocks = PretrainBatches.block_count(pre_set, T)
    assert n_blocks >= 20
    loader = PretrainBatches(pre_set, np.arange(n_blocks), T, batch_size=1, seed=3)
    seen = []
    for _ in range(n_blocks):
        b = next(loader)
        seen.append(block_index(pre_set, torch.cat([b["x"][0], b["y"][0, -1:]]).numpy()))
    assert sorted(seen) == list(range(n_blocks))
    assert seen != sorted(seen)  # shuffled
    assert loader.epoch == 0 and loader.epoch_progress == pytest.approx(1.0)
    next(loader)
    assert loader.epoch == 1


def test_pretrain_order_depends_on_seed_and_epoch(pre_set):
    n = PretrainBatches.block_count(pre_set, T)

    def first_epoch(seed):
        loader = PretrainBatches(pre_set, np.arange(n), T, batch_size=n, seed=seed)
        return next(loader)["x"], next(loader)["x"]

    a0, a1 = first_epoch(0)
    b0, _ = first_epoch(0)
    c0, _ = first_epoch(1)
    assert torch.equal(a0, b0)
    assert not torch.equal(a0, c0)
    assert not torch.equal(a0, a1)  # epoch 2 is reshuffled


def test_pretrain_unshuffled_walks_the_stream_in_order(pre_set):
    loader = PretrainBatches(pre_set, np.arange(3), T, batch_size=3, seed=0, shuffle=False)
    x = next(loader)["x"]
    assert torch.equal(x.reshape(-1), torch.from_numpy(pre_set.tokens[:3 * T].astype(np.int64)))


def test_pretrain_only_uses_the_blocks_it_is_given(pre_set):
    loader = PretrainBatches(pre_set, np.array([2, 5]), T, batch_size=6, seed=0)
    x = next(loader)["x"]
    starts = {tuple(pre_set.tokens[b * T:b * T + T].tolist()) for b in (2, 5)}
    assert {tuple(r.tolist()) for r in x} == starts


@pytest.mark.parametrize("kind", ["pretrain", "sft"])
def test_state_dict_resumes_the_exact_same_next_batches(kind, pre_set, sft_set, tok):
    def make():
        if kind == "pretrain":
            n = PretrainBatches.block_count(pre_set, T)
            return PretrainBatches(pre_set, np.arange(n), T, batch_size=5, seed=7)
        return SFTBatches(sft_set, np.arange(sft_set.n_docs), 48, batch_size=3, seed=7, pad_id=tok.pad_id)

    a = make()
    for _ in range(5):
        next(a)
    state = a.state_dict()
    expected = [next(a) for _ in range(len(a.items) // 3 + 2)]  # crosses at least one epoch boundary
    assert a.epoch > state["epoch"]
    b = make()
    b.load_state_dict(dict(state))
    for want in expected:
        got = next(b)
        assert torch.equal(got["x"], want["x"]) and torch.equal(got["y"], want["y"])


def test_empty_item_list_is_refused(pre_set):
    with pytest.raises(ValueError):
        PretrainBatches(pre_set, np.arange(0), T, batch_size=2, seed=0)


# ---------------------------------------------------------------- SFT


def assistant_targets(tok, y_row: torch.Tensor) -> str:
    return tok.decode(y_row[y_row != IGNORE].tolist())


def test_sft_targets_are_only_assistant_replies_and_their_im_end(tok, sft_set):
    width = 128
    assert max(sft_set.offsets[1:] - sft_set.offsets[:-1]) <= width  # nothing is cut
    loader = SFTBatches(sft_set, np.arange(sft_set.n_docs), width, batch_size=4, seed=0, pad_id=tok.pad_id,
                        packing=False, shuffle=False)
    convs = conversations()
    for bi in range(3):
        batch = next(loader)
        for r in range(4):
            conv = convs[bi * 4 + r]
            replies = "".join(m["content"] + "<|im_end|>" for m in conv if m["role"] == "assistant")
            assert assistant_targets(tok, batch["y"][r]) == replies
            # Positions with a target predict exactly the next input token.
            x, y = batch["x"][r], batch["y"][r]
            keep = (y[:-1] != IGNORE)
            assert torch.equal(y[:-1][keep], x[1:][keep])


def test_sft_packed_rows_hold_whole_conversations(tok, sft_set):
    width = 160
    loader = SFTBatches(sft_set, np.arange(sft_set.n_docs), width, batch_size=4, seed=1, pad_id=tok.pad_id,
                        packing=True)
    rendered = [tok.render_chat(c) for c in conversations()]
    assert max(sft_set.offsets[1:] - sft_set.offsets[:-1]) <= width  # no conversation needs cutting
    seen, packed_rows = [], 0
    for _ in range(2):  # 8 rows of 2-3 conversations: within the first epoch of 24
        batch = next(loader)
        assert batch["x"].shape == (4, width)
        for r in range(4):
            x = batch["x"][r]
            text = tok.decode(x[x != tok.pad_id].tolist())
            pieces = re.split(r"(?=<\|im_start\|>system\n)", text)
            pieces = [p for p in pieces if p]
            packed_rows += len(pieces) >= 2
            for p in pieces:
                # The row's very last token (a final "\n") is not in x when the row is exactly full.
                match = [i for i, full in enumerate(rendered) if p == full or p + "\n" == full]
                assert len(match) == 1, p
                seen.append(match[0])
            # Loss targets of a packed row: every packed conversation's replies, in order.
            want = "".join(m["content"] + "<|im_end|>" for i in seen[-len(pieces):]
                           for m in conversations()[i] if m["role"] == "assistant")
            assert assistant_targets(tok, batch["y"][r]) == want
    assert packed_rows >= 6  # most rows hold several conversations
    assert loader.epoch == 0
    assert len(seen) == len(set(seen))  # within one epoch, each conversation is used once


def test_sft_packing_uses_fewer_rows_than_one_per_conversation(tok, sft_set):
    loader = SFTBatches(sft_set, np.arange(sft_set.n_docs), 128, batch_size=2, seed=0, pad_id=tok.pad_id,
                        packing=True, shuffle=False)
    next(loader)
    assert loader.state_dict()["index"] > 2


def test_sft_unpacked_pads_only_to_the_longest_in_the_batch(tok, sft_set):
    B = 4
    loader = SFTBatches(sft_set, np.arange(sft_set.n_docs), 200, batch_size=B, seed=0, pad_id=tok.pad_id,
                        packing=False, shuffle=False)
    lens = (sft_set.offsets[1:] - sft_set.offsets[:-1]).astype(int)
    for bi in range(3):
        batch = next(loader)
        want = lens[bi * B:(bi + 1) * B]
        assert batch["x"].shape == (B, want.max() - 1)
        for r in range(B):
            x = batch["x"][r]
            assert int((x != tok.pad_id).sum()) == min(want[r], want.max() - 1)
            assert torch.all(batch["y"][r][want[r] - 1:] == IGNORE)  # padding carries no loss


def test_sft_long_conversation_is_cut_to_the_row(tok, sft_set):
    loader = SFTBatches(sft_set, np.arange(sft_set.n_docs), 12, batch_size=2, seed=0, pad_id=tok.pad_id,
                        packing=True, shuffle=False)
    batch = next(loader)
    assert batch["x"].shape == (2, 12)
    first = sft_set.tokens[sft_set.offsets[0]:sft_set.offsets[0] + 12].astype(np.int64)
    assert torch.equal(batch["x"][0], torch.from_numpy(first))


# ---------------------------------------------------------------- holdout


@pytest.mark.parametrize(("n", "every"), [(100, 10), (101, 7), (5, 1), (3, 50)])
def test_holdout_split_is_a_disjoint_cover(n, every):
    train, val = holdout_split(n, every)
    assert set(train).isdisjoint(set(val))
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(n))
    assert len(val) == n // every


def test_holdout_split_zero_means_no_val():
    train, val = holdout_split(10, 0)
    assert train.tolist() == list(range(10)) and len(val) == 0


def test_holdout_split_is_deterministic():
    a, b = holdout_split(50, 5), holdout_split(50, 5)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
