"""hardware.compile: auto on a CPU compiles only runs long enough to repay the compile: never the short runs the
test suite and a first try start; doctor says the rule (tests/e2e/test_cpu_compile_run.py: a real run's log)."""

from __future__ import annotations

import torch

from engine.config import load_config
from engine.device_auto import CPU_COMPILE_MIN_FLOPS, auto_picks, compile_enabled, compile_reason
from engine.estimate import run_estimate

CPU = torch.device("cpu")


def planned(*overrides: str) -> float:
    cfg = load_config(overrides=list(overrides))
    return run_estimate(cfg, cfg.tokenizer.vocab_size)["flops_per_step"] * cfg.run.max_steps


def test_auto_on_a_cpu_compiles_at_the_threshold_and_not_below():
    assert compile_enabled("auto", CPU, CPU_COMPILE_MIN_FLOPS)
    assert not compile_enabled("auto", CPU, CPU_COMPILE_MIN_FLOPS * 0.99)
    assert not compile_enabled("auto", CPU)                      # no run to judge: eager
    assert not compile_enabled("auto", torch.device("mps"), 1e30)
    assert compile_enabled("on", CPU, 0.0) and not compile_enabled("off", CPU, 1e30)


def test_the_presets_defaults_fall_on_the_measured_sides():
    # tiny's default 1000 steps: eager; small's: compiled (it gained most per step, see bench/results/cpu_peers.md)
    assert not compile_enabled("auto", CPU, planned("model.preset=tiny"))
    assert compile_enabled("auto", CPU, planned("model.preset=small"))
    # the suite's long-lived toy runs (stopped by the test, 100000 steps planned) stay eager with room to spare
    toy = planned("model.d_model=64", "model.n_layer=2", "tokenizer.vocab_size=512", "run.batch_size=4",
                  "data.seq_len=64", "run.max_steps=100000")             # tests/e2e/conftest.py's FAST shape
    assert toy * 3 < CPU_COMPILE_MIN_FLOPS


def test_doctor_and_the_reason_say_why():
    assert "FLOPs" in auto_picks()["compile_why"] or auto_picks()["kind"] != "cpu"
    assert compile_reason(CPU, 1e15).startswith("compiles: this run plans 1.0e+15 FLOPs")
    assert compile_reason(CPU, 1e9).startswith("eager: this run plans 1.0e+09 FLOPs")
