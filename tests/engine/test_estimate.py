"""engine.estimate: the pre-launch arithmetic (params, FLOPs, memory) behaves as a user would expect."""

from __future__ import annotations

import subprocess
import sys

import pytest

from engine.config import build_config
from engine.estimate import (
    GIB,
    dominant_knob,
    flops_per_token,
    generation_bytes,
    memory_bytes,
    memory_refusal,
    param_count,
    run_estimate,
)


def cfg(**sections):
    base = {"model": {"d_model": 64, "n_layer": 2, "n_head": 4, "n_kv_head": 2, "vocab_size": 512,
                      "max_seq_len": 128}, "data": {"seq_len": 128}}
    for k, v in sections.items():
        base[k] = {**base.get(k, {}), **v}
    return build_config(base)


def test_param_count_parts_add_up():
    p = param_count(cfg().model)
    assert p["total"] == p["non_embedding"] + p["embedding"]
    assert p["embedding"] == 512 * 64
    untied = param_count(cfg(model={"tie_embeddings": False}).model)
    assert untied["embedding"] == 2 * 512 * 64 and untied["total"] == p["total"] + 512 * 64


def test_param_count_takes_the_vocab_from_the_argument_when_given():
    m = cfg(model={"vocab_size": 0}).model
    assert param_count(m, 512) == param_count(cfg().model)


def test_memory_grows_with_batch_size():
    small, big = memory_bytes(cfg(run={"batch_size": 4})), memory_bytes(cfg(run={"batch_size": 16}))
    assert big["activations"] > small["activations"] and big["total"] > small["total"]
    assert big["weights"] == small["weights"] and big["optimizer"] == small["optimizer"]


def test_memory_grows_with_seq_len_and_model_size():
    assert memory_bytes(cfg(data={"seq_len": 128}))["total"] > memory_bytes(cfg(data={"seq_len": 32}))["total"]
    assert memory_bytes(cfg(model={"n_layer": 4}))["total"] > memory_bytes(cfg())["total"]


def test_grad_checkpointing_shrinks_the_activations():
    plain = memory_bytes(cfg())
    ckpt = memory_bytes(cfg(hardware={"grad_checkpointing": True}))
    assert ckpt["activations"] < plain["activations"] and ckpt["total"] < plain["total"]
    assert ckpt["weights"] == plain["weights"]


def test_half_precision_activations_are_smaller():
    assert memory_bytes(cfg(), precision="bf16")["activations"] < memory_bytes(cfg(), precision="fp32")["activations"]


def test_memory_parts_add_up_and_weights_are_fp32():
    m = memory_bytes(cfg())
    n = param_count(cfg().model)["total"]
    assert m["weights"] == 4 * n and m["optimizer"] == 8 * n
    assert m["total"] == m["weights"] + m["grads"] + m["optimizer"] + m["activations"]


@pytest.mark.parametrize("tied", [True, False])
def test_flops_per_token_is_about_6n_for_short_sequences(tied):
    m = cfg(model={"tie_embeddings": tied}).model
    p = param_count(m)
    # Every matmul weight (the head included, the embedding lookup not) costs 6 FLOPs per token in training.
    matmul = p["non_embedding"] + 512 * 64
    assert flops_per_token(m, seq_len=1) == pytest.approx(6 * matmul, rel=0.02)
    if tied:
        assert flops_per_token(m, seq_len=1) == pytest.approx(6 * p["total"], rel=0.02)


def test_attention_flops_grow_with_sequence_length():
    m = cfg().model
    assert flops_per_token(m, 1024) - flops_per_token(m, 512) == 12 * m.n_layer * 512 * m.d_model


def test_run_estimate_is_consistent():
    c = cfg(run={"batch_size": 8, "grad_accum": 2, "max_steps": 10})
    est = run_estimate(c)
    assert est["tokens_per_step"] == 8 * 2 * 128
    assert est["total_tokens"] == est["tokens_per_step"] * 10
    assert est["flops_per_step"] == flops_per_token(c.model, 128) * est["tokens_per_step"]
    assert est["params"] == param_count(c.model)["total"]


def test_run_estimate_falls_back_to_the_tokenizer_vocab():
    c = cfg(model={"vocab_size": 0}, tokenizer={"vocab_size": 1024})
    assert run_estimate(c)["params"] == param_count(c.model, 1024)["total"]


def test_estimate_and_config_do_not_import_torch():
    code = ("import sys, engine.estimate, engine.config, engine.protocol; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize(("section", "values", "key"), [
    ("run", {"batch_size": 100000}, "run.batch_size"),
    ("data", {"seq_len": 8192}, "data.seq_len"),
    ("model", {"n_layer": 100000}, "model.n_layer"),
    ("model", {"d_model": 16384, "n_head": 16, "n_kv_head": 4}, "model.d_model"),
    ("model", {"vocab_size": 1_000_000}, "model.vocab_size"),
])
def test_refusal_names_the_knob_that_dominates(section, values, key):
    c = cfg(**{section: values, **({"model": {"max_seq_len": 8192}} if section == "data" else {})})
    need = memory_bytes(c)["total"]
    message, hint = memory_refusal(c, need // 2)
    assert message == f"needs ~{need / GIB:.1f} GiB, this machine has {need / 2 / GIB:.1f} GiB free; lower {key}"
    assert "activations" in hint and "GiB" in hint
    assert dominant_knob(c) == key


def test_a_run_that_fits_is_not_refused():
    c = cfg()
    need = memory_bytes(c)["total"]
    assert memory_refusal(c, need) is None and memory_refusal(c, need - 1) is not None


def test_a_small_run_on_a_small_machine_is_told_to_lower_the_batch():
    message, hint = memory_refusal(cfg(run={"batch_size": 1}), free_bytes=1, where="this GPU (test)")
    assert message.endswith("this GPU (test) has 0.0 GiB free; lower run.batch_size")
    assert "run.grad_accum" in hint


def test_generation_memory_grows_with_rows_and_length():
    m = cfg().model
    base = generation_bytes(m, 4, 64)
    assert generation_bytes(m, 8, 64) > base and generation_bytes(m, 4, 128) > base
    # Beams share one prompt: a single-row prefill costs less than a batch's.
    assert generation_bytes(m, 4, 64, prefill_rows=1) < base
    kv = 2 * 4 * m.n_kv_head * m.head_dim * 64 * 4 * (m.n_layer + 1)
    assert base > kv
