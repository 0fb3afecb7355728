"""The CPU's bf16 probe (engine/cpu_bf16_probe.py): a real measurement, cached per CPU model and torch version, and
a damaged cache measured again rather than trusted."""

from __future__ import annotations

import json
import math

import torch

from engine.cpu_bf16_probe import PROBE_FILE, bf16_speedup, cpu_model, measure


def test_measure_times_both_precisions_and_leaves_the_thread_count_alone():
    threads = torch.get_num_threads()
    speedup = measure(repeats=2)
    assert math.isfinite(speedup) and speedup > 0
    assert torch.get_num_threads() == threads


def test_the_answer_is_cached_per_cpu_and_torch_version(tmp_path):
    first = bf16_speedup(tmp_path)
    cached = json.loads((tmp_path / PROBE_FILE).read_text(encoding="utf-8"))
    key = f"{cpu_model()}|torch {torch.__version__}"
    assert cached == {key: round(first, 3)}
    cached[key] = 7.5  # a value no measurement gives: read back, not measured again
    (tmp_path / PROBE_FILE).write_text(json.dumps(cached), encoding="utf-8")
    assert bf16_speedup(tmp_path) == 7.5


def test_a_damaged_cache_is_measured_again_and_rewritten(tmp_path):
    (tmp_path / PROBE_FILE).write_text("{not json", encoding="utf-8")
    speedup = bf16_speedup(tmp_path)
    assert speedup > 0 and json.loads((tmp_path / PROBE_FILE).read_text(encoding="utf-8"))
