"""run.batch_size: auto and OOM back-off on the CPU: the search finds the largest micro-batch whose measured step
fits a simulated budget and keeps the global batch; a step that runs out of memory is repeated with half the
micro-batch and gives the losses of a run that used that micro-batch from the start."""

from __future__ import annotations

import io
import json

import pytest
import torch

from engine import checkpoint as ckpt
from engine.commands import CommandQueue
from engine.config import load_config
from engine.errors import UserError
from engine.events import EventSink, NullSink
from engine.hardware import init_runtime
from engine.train.autobatch import Probe, fit_batch, largest_fitting, split_global, step_probe
from engine.train.backoff import INJECT_ENV
from engine.train.registry import make_stage
from engine.train.run import run_training
from engine.train.setup import build_parts

TOY = ["model.d_model=32", "model.n_layer=2", "model.n_head=4", "model.n_kv_head=2", "model.max_seq_len=64",
       "run.task_eval_items=0", "run.sample_prompts=[]", "hardware.device=cpu", "hardware.precision=fp32",
       "hardware.threads=1", "data.seq_len=16", "run.eval_every=0", "run.eval_batches=1", "run.log_every=1"]


def texts(n: int = 200) -> list[dict]:
    return [{"text": f"The number {i} is followed by {i + 1}, and {i * 3} is three times {i}."} for i in range(n)]


def events(buf: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


@pytest.fixture
def toy_run(tmp_path, workspace, tok_dir, jsonl):
    """`toy_run(*overrides)` -> a config over a small text file with the session tokenizer."""
    data = jsonl(tmp_path / "text.jsonl", texts())

    def make(*overrides: str):
        return load_config(overrides=[*TOY, f"data.train=[{data}]", f"tokenizer.path={tok_dir}", *overrides])
    return make


# ---------------------------------------------------------------------------------------------- the search

@pytest.mark.parametrize(("largest", "limit", "tried"), [
    (5, 100, [1, 2, 4, 8, 6, 5]),
    (8, 100, [1, 2, 4, 8, 16, 12, 10, 9]),
    (100, 12, [1, 2, 4, 8, 12]),          # everything fits: stops at the limit, which need not be a power of two
    (0, 100, [1]),                        # not even one sequence
])
def test_search_doubles_then_bisects_to_the_largest_fitting(largest, limit, tried):
    found, probes = largest_fitting(lambda b: Probe(b, b <= largest, b, 0.0), limit)
    assert found == min(largest, limit)
    assert [p.batch for p in probes] == tried


def test_split_keeps_the_global_batch_exactly():
    assert split_global(5, 20) == (5, 4)
    assert split_global(5, 12) == (4, 3)       # 5 does not divide 12: the largest divisor below it
    assert split_global(7, 7) == (7, 1)
    assert split_global(64, 8) == (8, 1)       # never above the global batch


# ---------------------------------------------------------------------------------------------- measured on the CPU

def test_auto_finds_the_largest_micro_batch_within_a_simulated_budget(toy_run, workspace):
    cfg = toy_run("run.batch_size=auto", "run.global_batch_tokens=320")       # 20 sequences of 16
    rt = init_runtime(cfg.hardware, cfg.run.seed)
    parts = build_parts(cfg, make_stage("pretrain"), workspace, NullSink(), rt, None)
    before = [p.detach().clone() for p in parts.model.parameters()]
    rng = torch.get_rng_state()

    probe = step_probe(parts, rt, budget=2**62)
    peaks = {b: probe(b).peak for b in (4, 5, 6)}
    assert peaks[4] < peaks[5] < peaks[6], "the measure must grow with the micro-batch"
    budget = (peaks[5] + peaks[6]) // 2        # 5 fits, 6 does not

    buf = io.StringIO()
    parts = fit_batch(parts, rt, EventSink(stream=buf), budget=budget)
    probes = {e["micro_batch"]: e["fits"] for e in events(buf) if e["phase"] == "probe"}
    assert probes[5] is True and probes[6] is False
    assert all(fits == (b <= 5) for b, fits in probes.items())
    chosen = [e for e in events(buf) if e["phase"] == "chosen"][0]
    assert (chosen["micro_batch"], chosen["grad_accum"]) == (5, 4)
    assert (parts.cfg.run.batch_size, parts.cfg.run.grad_accum) == (5, 4) and parts.ctx.cfg is parts.cfg
    assert parts.cfg.tokens_per_step == 320   # the global batch asked for

    # probing left the weights, their gradients and the RNG as they were
    assert all(torch.equal(a, b.detach()) for a, b in zip(before, parts.model.parameters(), strict=True))
    assert all(p.grad is None for p in parts.model.parameters())
    assert torch.equal(rng, torch.get_rng_state())

    with pytest.raises(UserError, match="hardware.memory_fraction"):
        fit_batch(build_parts(cfg, make_stage("pretrain"), workspace, NullSink(), rt, None), rt, NullSink(),
                  budget=1)


# ---------------------------------------------------------------------------------------------- OOM back-off

def run_losses(cfg, workspace, out, monkeypatch, inject: int | None = None) -> tuple[list[float], list[dict]]:
    if inject:
        monkeypatch.setenv(INJECT_ENV, str(inject))
    else:
        monkeypatch.delenv(INJECT_ENV, raising=False)
    buf = io.StringIO()
    run_training(cfg, workspace, EventSink(stream=buf), CommandQueue(), out=str(out))
    evs = events(buf)
    return [e["loss"] for e in evs if e["event"] == "step"], [e for e in evs if e["event"] == "batch"]


def test_oom_mid_run_halves_the_micro_batch_and_keeps_the_losses(toy_run, workspace, tmp_path, monkeypatch):
    steps = ["run.max_steps=5", "run.checkpoint_every=0"]
    backed_off, notes = run_losses(toy_run(*steps, "run.batch_size=4", "run.grad_accum=2"), workspace,
                                   tmp_path / "a", monkeypatch, inject=3)
    small, none = run_losses(toy_run(*steps, "run.batch_size=2", "run.grad_accum=4"), workspace, tmp_path / "b",
                             monkeypatch)
    assert len(backed_off) == len(small) == 5 and not none
    assert [(n["phase"], n["step"], n["micro_batch"], n["grad_accum"]) for n in notes] == [("backoff", 3, 2, 4)]
    assert "step 3 is repeated" in notes[0]["message"]
    for a, b in zip(backed_off, small, strict=True):
        assert a == pytest.approx(b, abs=1e-6)
    # the final checkpoint remembers the split, so a resume keeps the smaller micro-batch
    assert ckpt.load_trainer_state(ckpt.resolve_checkpoint(tmp_path / "a"))["micro_splits"] == 2


def test_split_batch_keeps_rows_and_pairs_together():
    rows = torch.arange(10).unsqueeze(1).repeat(1, 3)                  # row i holds i
    parts = make_stage("pretrain").split_batch({"x": rows, "y": rows, "scale": torch.tensor(2.0)}, 2)
    assert [p["x"][:, 0].tolist() for p in parts] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    assert all(p["scale"] == 2.0 for p in parts)                        # 0-d entries go to each part
    assert [len(p["x"]) for p in make_stage("pretrain").split_batch({"x": rows[:3]}, 4)] == [1, 1, 1]
    # preference batches: B chosen rows, then their B rejected rows; each part keeps that layout
    ids = torch.tensor([[10], [11], [12], [13], [20], [21], [22], [23]])   # chosen 1x, rejected 2x, pair index last
    pairs = make_stage("dpo").split_batch({"ids": ids, "mask": ids, "lengths": ids[:, 0]}, 2)
    assert [p["ids"][:, 0].tolist() for p in pairs] == [[10, 11, 20, 21], [12, 13, 22, 23]]
