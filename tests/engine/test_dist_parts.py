"""The pieces of multi-process training that run without a process group: the sharded data cursor and the
conversion of a plain optimizer state (by position) into the by-name form FSDP2 loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

from engine.config import ModelConfig, OptimConfig
from engine.data.loaders import PretrainBatches
from engine.data.pretokenize import TokenizedSet
from engine.model.gpt import GPT
from engine.optim import build_optimizer
from engine.train.dist_checkpoint import by_name
from engine.train.distributed import ShardedBatches, parallel_mode


def token_set(n_tokens: int = 500) -> TokenizedSet:
    tokens = np.arange(n_tokens, dtype=np.int64) % 97
    return TokenizedSet(Path("mem"), tokens, None, np.array([0, n_tokens]), {})


def test_ranks_together_see_one_process_batch_and_share_the_cursor():
    data, seq, world, b = token_set(), 8, 2, 3
    blocks = np.arange(PretrainBatches.block_count(data, seq))
    whole = PretrainBatches(data, blocks, seq, b * world, seed=5)
    ranks = [ShardedBatches(PretrainBatches(data, blocks, seq, b, seed=5), r, world) for r in range(world)]
    for _ in range(30):  # past an epoch boundary too (62 blocks of 8, 6 a step)
        expected = next(whole)["x"]
        got = torch.cat([next(r)["x"] for r in ranks])
        assert torch.equal(got, expected)
        assert ranks[0].state_dict() == ranks[1].state_dict() == whole.state_dict()
    # The cursor of two ranks continues in one process with the doubled batch, at the same place.
    resumed = PretrainBatches(data, blocks, seq, b * world, seed=5)
    resumed.load_state_dict(ranks[1].state_dict())
    assert torch.equal(next(resumed)["x"], next(whole)["x"])


def test_plain_optimizer_state_by_name_loads_into_a_fresh_optimizer():
    torch.manual_seed(0)
    cfg = ModelConfig(d_model=32, n_layer=2, n_head=2, n_kv_head=1, vocab_size=64, max_seq_len=16)
    model = GPT(cfg)
    opt = build_optimizer(model, OptimConfig(), torch.device("cpu"))
    x = torch.randint(0, 64, (2, 8))
    model(x, x, reduction="sum")[1].backward()
    opt.step()
    saved = opt.state_dict()
    named = by_name(saved, opt, model)
    assert "embed.weight" in named["state"] and named["param_groups"][0]["params"][0].startswith("blocks.")

    fresh = GPT(cfg)
    fresh_opt = build_optimizer(fresh, OptimConfig(), torch.device("cpu"))
    set_optimizer_state_dict(fresh, fresh_opt, named, options=StateDictOptions(full_state_dict=True))
    again = fresh_opt.state_dict()
    for i, state in saved["state"].items():
        for k, v in state.items():
            assert torch.equal(again["state"][i][k], v), (i, k)


def test_parallel_mode():
    assert parallel_mode("fsdp", 1) == "none"      # one process never wraps
    assert parallel_mode("none", 2) == "ddp"       # several processes with none hold full copies
    assert parallel_mode("fsdp", 4) == "fsdp"
