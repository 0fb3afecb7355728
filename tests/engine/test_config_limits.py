"""Absurd values are refused before torch loads: every numeric key against NaN, infinity, the int64 range and a
fraction where a whole number belongs; a model or a step that cannot fit in the machine's memory; a run that could
never finish. Plausible big runs on a big machine still pass."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from dataclasses import fields

import pytest

from engine.config import SECTION_TYPES, ConfigError, build_config, build_section, check_limits, nested_section
from engine.config_limits import INT64_MAX

GIB = 2**30


def numeric_keys(kind: str) -> list[tuple[str, str]]:
    """(section path, field) of every `kind` ("int" or "float") knob, nested sections included."""
    out = []

    def walk(cls, path):
        for f in fields(cls):
            nested = nested_section(cls, f.name)
            if nested is not None:
                walk(nested, f"{path}.{f.name}")
            elif str(f.type).split(" ")[0] == kind:
                out.append((path, f.name))
    for section, cls in SECTION_TYPES.items():
        walk(cls, section)
    return out


def build(path: str, name: str, value):
    section, *sub = path.split(".")
    values = {name: value}
    for part in reversed(sub):
        values = {part: values}
    return build_section(section, values)


FLOAT_KEYS = numeric_keys("float")
INT_KEYS = numeric_keys("int")


def test_the_walk_finds_the_numeric_keys():
    assert ("optim", "lr") in FLOAT_KEYS and ("model.moe", "aux_loss_coef") in FLOAT_KEYS and len(FLOAT_KEYS) > 25
    assert ("run", "grad_accum") in INT_KEYS and ("model.moe", "top_k") in INT_KEYS and len(INT_KEYS) > 30


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "nan", ".inf"])
def test_no_float_key_takes_nan_or_infinity(value):
    for path, name in FLOAT_KEYS:
        with pytest.raises(ConfigError) as e:
            build(path, name, value)
        assert e.value.key == f"{path}.{name}", e.value.key


@pytest.mark.parametrize("value", [2**63, -(2**63) - 7, "1e30", 2.5, "inf"])
def test_no_int_key_takes_a_value_beyond_int64_or_a_fraction(value):
    for path, name in [*INT_KEYS, ("run", "batch_size")]:
        with pytest.raises(ConfigError) as e:
            build(path, name, value)
        assert e.value.key == f"{path}.{name}", e.value.key
        if value != 2.5 and value != "inf":
            assert f"{INT64_MAX:,}" in e.value.message and "64-bit" in e.value.hint


def test_whole_numbers_written_as_powers_of_ten_are_still_read():
    assert build_section("run", {"batch_size": "1e1", "max_steps": "2e3"}).batch_size == 10


def config(ram_gib: float = 16, **sections):
    doc = {"model": {"d_model": 64, "n_layer": 2, "n_head": 4, "n_kv_head": 2, "vocab_size": 512},
           "data": {"seq_len": 128}, "hardware": {"device": "cpu"}}
    for k, v in sections.items():
        doc[k] = {**doc.get(k, {}), **v}
    cfg = build_config(doc)
    check_limits(cfg, int(ram_gib * GIB))
    return cfg


@pytest.mark.parametrize(("section", "values", "key"), [
    ("model", {"n_layer": 100_000}, "model.n_layer"),
    ("run", {"grad_accum": 100_000_000}, "run.grad_accum"),
    ("run", {"batch_size": 1_000_000}, "run.batch_size"),
    ("model", {"vocab_size": 10**9}, "model.vocab_size"),
    ("model", {"max_seq_len": 10**10}, "model.max_seq_len"),
])
def test_what_cannot_fit_names_the_key_the_value_the_largest_that_fits_and_the_memory(section, values, key):
    with pytest.raises(ConfigError) as e:
        config(16, **{section: values})
    value = next(iter(values.values()))
    assert e.value.key == key and e.value.message.startswith(f"{key}: {value:,} needs ~")
    assert "this machine has 16.0 GiB; at most " in e.value.message and e.value.hint
    most = int(e.value.message.rsplit("at most ", 1)[1].split(" ")[0].replace(",", ""))
    assert "is accepted (up to 1.5x its memory)" in e.value.message
    config(16, **{section: {next(iter(values)): most}})                       # the largest named passes
    with pytest.raises(ConfigError):
        config(16, **{section: {next(iter(values)): most + max(1, most // 50)}})


def test_a_big_machine_may_run_what_a_small_one_may_not():
    big = {"model": {"d_model": 2048, "n_layer": 24, "n_head": 16, "n_kv_head": 4, "max_seq_len": 2048},
           "data": {"seq_len": 2048}, "run": {"batch_size": 8, "grad_accum": 64}}
    with pytest.raises(ConfigError) as e:
        config(32, **big)
    assert "needs ~52.9 GiB, this machine has 32.0 GiB" in e.value.message and "lower model.d_model" in e.value.hint
    config(1024, **big)
    config(40, **big)  # 52.9 GiB on 40: over, but within the estimate's error and what swap or back-off absorb


def test_runs_that_never_finish_are_refused_and_long_ones_are_not():
    config(run={"max_steps": 10**9, "eval_every": 0})                    # ~3 years at 0.1 s a step: yours to try
    with pytest.raises(ConfigError, match=r"run\.max_steps: 1,000,000,000,000,000 makes the run .* never finishes"):
        config(run={"max_steps": 10**15})
    with pytest.raises(ConfigError) as e:
        config(run={"eval_every": 1, "eval_batches": 10**9})
    assert e.value.key == "run.eval_batches" and "years" in e.value.message


def test_train_refuses_an_absurd_step_before_torch_loads(tmp_path):
    env = {**os.environ, "MINIGPT_HOME": str(tmp_path)}
    t0 = time.perf_counter()
    code = ("import sys, runpy; sys.argv = ['minigpt', 'train', '--preset', 'tiny', '--set', 'run.grad_accum=1e8'];"
            "\ntry: runpy.run_module('engine.cli', run_name='__main__')\n"
            "finally: print('TORCH', 'torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "run.grad_accum: 100,000,000 needs ~" in proc.stdout + proc.stderr
    assert "TORCH False" in proc.stdout, proc.stdout
    assert time.perf_counter() - t0 < 60
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
