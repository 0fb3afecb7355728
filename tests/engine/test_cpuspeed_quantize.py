"""`--quantize int8`: int8 Linear layers give logits close to fp32's and the same greedy text on the toy checkpoint,
the fast decode step takes them, the CLI flag reaches the model, and GPUs or unknown modes are refused clearly."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest
import torch
from inference_fixtures import *  # noqa: F403  (the toy checkpoint fixtures)

from engine.errors import UserError
from engine.generate import FastStep, Generator, SamplingParams
from engine.model.quantize import apply_int8, check_quantize, quantized_mode


@pytest.fixture(scope="module")
def int8_model(toy):
    return apply_int8(copy.deepcopy(toy.model))


def test_every_linear_is_int8_and_logits_stay_close(toy, int8_model):
    assert quantized_mode(int8_model) == "int8" and quantized_mode(toy.model) == "none"
    ids = torch.tensor([toy.tok.encode("the model learns to predict the next token")])
    with torch.inference_mode():
        ref, _ = toy.model(ids)
        got, _ = int8_model(ids)
    # One scale per matrix and per input row: a few percent of the logits' size (another model would be ~140%).
    assert torch.linalg.norm(got - ref) < 0.05 * torch.linalg.norm(ref)
    assert (got.argmax(-1) == ref.argmax(-1)).float().mean() >= 0.9
    assert not torch.equal(got, ref)  # it really runs int8 kernels


def test_int8_greedy_text_matches_fp32(toy, int8_model):
    prompts = [toy.tok.encode(p) for p in ("What is 12 + 35?", "小模型")]
    params = SamplingParams.greedy(8)
    ref = Generator(toy.model, [], toy.tok.pad_id).generate(prompts, params)
    got = Generator(int8_model, [], toy.tok.pad_id).generate(prompts, params)
    same = sum(a == b for r, g in zip(ref, got, strict=True) for a, b in zip(r, g, strict=True))
    assert same / sum(len(r) for r in ref) >= 0.9


def test_fast_decode_step_runs_int8_layers(toy, int8_model):
    """The per-token fast path calls the int8 layers and agrees with the module path on the same weights."""
    fast = FastStep.for_model(int8_model)
    assert fast is not None
    gen = Generator(int8_model, [], toy.tok.pad_id)
    prompt = torch.tensor([toy.tok.encode("the next token")])
    outs = []
    for step in (None, fast):
        caches = int8_model.new_caches(1)
        with torch.inference_mode():
            int8_model(prompt, caches=caches)
            outs.append(gen.decode_step(torch.tensor([5]), caches, prompt.shape[1], fast=step))
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-4, atol=1e-4)


def test_int8_is_refused_off_the_cpu_and_unknown_modes():
    with pytest.raises(UserError, match="CPU only") as e:
        check_quantize("int8", torch.device("cuda"))
    assert "--device cpu" in e.value.hint
    with pytest.raises(UserError, match="unknown mode"):
        check_quantize("int4", torch.device("cpu"))
    check_quantize("int8", torch.device("cpu"))


@pytest.mark.slow
def test_cli_generate_with_quantize_int8(toy, tmp_path):
    """A real `minigpt generate --quantize int8` process: same greedy reply as fp32, and an unknown mode is refused."""
    env = {**os.environ, "MINIGPT_HOME": str(tmp_path)}
    base = [sys.executable, "-m", "engine.cli", "generate", str(toy.folder), "--prompt", "What is 12 + 35?",
            "--template", "raw", "--temperature", "0", "--max-new-tokens", "8", "--device", "cpu", "--json"]
    replies = {}
    for mode in ("none", "int8"):
        r = subprocess.run(base + ["--quantize", mode], capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 0, r.stderr
        replies[mode] = json.loads(r.stdout.strip().splitlines()[-1])
    assert replies["int8"]["completion"] == replies["none"]["completion"]
    bad = subprocess.run(base + ["--quantize", "int4"], capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode != 0 and "int4" in bad.stderr
