"""The CUDA-graph decode step (engine/decode_graph.py): its static form (whole-cache keys, device-scalar position,
slots past the position masked) gives the model's own logits and greedy tokens on any device; on a CUDA machine the
recorded graph generates what the op-by-op path generates and sees weights updated in place."""

from __future__ import annotations

import pytest
import torch
from inference_fixtures import *  # noqa: F403 - the toy session fixture

from engine.config import ModelConfig
from engine.decode_graph import MAX_BATCH, GraphedStep
from engine.generate import FastStep, Generator, SamplingParams
from engine.model.gpt import GPT

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def small_model(device: str = "cpu") -> GPT:
    torch.manual_seed(0)
    return GPT(ModelConfig(vocab_size=97, d_model=32, n_layer=2, n_head=4, n_kv_head=2, max_seq_len=24)).eval() \
        .to(device)


def test_static_step_matches_the_model_with_stale_slots_hidden():
    model = small_model()
    fast = FastStep.for_model(model)
    prompt = torch.randint(0, 97, (3, 6))
    valid = torch.ones(3, 24, dtype=torch.bool)
    valid[0, :2] = False  # row 0 is left-padded
    with torch.inference_mode():
        ref_caches, caches = model.new_caches(3, 8), model.new_caches(3, 24)
        for c in caches:  # what an earlier generation left behind: the mask must hide it
            c.k.normal_(), c.v.normal_()
        # causal & real keys; a pad query sees itself (as SampledDecoding's prefill mask)
        prefill = ((torch.ones(6, 6, dtype=torch.bool).tril() & valid[:, None, :6]) | torch.eye(6, dtype=torch.bool))
        model(prompt, caches=ref_caches, mask=prefill[:, None])
        model(prompt, caches=caches, mask=prefill[:, None])
        tok, pos = torch.tensor([5, 17, 42]), torch.tensor(6)
        ref, _ = model(tok[:, None], mask=valid[:, None, None, :7], caches=ref_caches, pos=6)
        got = fast(tok, caches, pos, valid[:, None, None, :] & (torch.arange(24) <= pos))
    assert (ref[:, -1] - got).abs().max().item() < 1e-5
    assert torch.equal(ref_caches[1].k[:, :, :6], caches[1].k[:, :, :6])
    assert torch.allclose(ref_caches[1].k[:, :, 6], caches[1].k[:, :, 6], atol=1e-6)  # written at pos, by index


def test_graphed_step_without_recording_generates_the_greedy_tokens(toy):
    """GraphedStep's recorded computation, run directly (a CPU has no graphs), continues a prompt exactly as the
    generator does."""
    gen = Generator(toy.model, [], toy.tok.pad_id)
    prompt = toy.tok.encode("What is 3 + 4?")
    want = gen.generate([prompt], SamplingParams.greedy(12))[0]
    step = GraphedStep(FastStep.for_model(toy.model), 1)
    step.prepare(torch.ones(1, len(prompt), dtype=torch.bool))
    got = []
    with torch.inference_mode():
        logits, _ = toy.model(torch.tensor([prompt]), caches=step.caches, pos=0, last_only=True)
        tok = logits[:, -1].argmax(-1)
        for i in range(12):
            got.append(int(tok))
            step.tokens.copy_(tok)
            step.pos.fill_(len(prompt) + i)
            tok = step.step().argmax(-1)
    assert got == want


def test_graphs_apply_only_to_a_cuda_model_and_small_batches(toy):
    """toy.model lives on the CPU: never graphed, whatever the machine has; nor is any batch above MAX_BATCH."""
    assert not GraphedStep.applies_to(toy.model, 1) and not GraphedStep.applies_to(toy.model, MAX_BATCH + 1)
    assert Generator(toy.model, [], toy.tok.pad_id).graphed_step(1, FastStep.for_model(toy.model), object()) is None


@cuda
def test_recorded_graph_generates_what_the_op_by_op_path_generates():
    model = small_model("cuda")
    gen = Generator(model, [], 0)
    prompts = [[3, 4, 5, 6], [7, 8]]  # the second is left-padded
    params = SamplingParams.greedy(16)
    graphed = gen.generate(prompts, params)
    assert gen.graphs[2] is not None and gen.graphs[2].graph is not None, "the step was not recorded"
    gen.graphs[2] = None  # op by op from here on
    assert gen.generate(prompts, params) == graphed
    alone = Generator(model, [], 0)
    assert [alone.generate([p], params)[0] for p in prompts] == graphed


@cuda
def test_recorded_graph_sees_weights_updated_in_place_and_records_again_when_they_move():
    model = small_model("cuda")
    gen, prompt, params = Generator(model, [], 0), [[3, 4, 5]], SamplingParams.greedy(10)
    gen.generate(prompt, params)
    with torch.no_grad():
        model.lm_head.weight.mul_(-1.0)  # in place, as an optimizer step: same addresses, new values
    fresh = Generator(model, [], 0)
    fresh.graphs[1] = None
    assert gen.generate(prompt, params) == fresh.generate(prompt, params)
    first_graph = gen.graphs[1].graph
    model.to(torch.float64).to(torch.float32)  # new tensors: the old graph would read freed memory
    assert gen.generate(prompt, params) == fresh.generate(prompt, params)
    assert gen.graphs[1].graph is not first_graph


@cuda
def test_large_batches_are_not_graphed_on_cuda():
    model = small_model("cuda")
    assert GraphedStep.applies_to(model, MAX_BATCH) and not GraphedStep.applies_to(model, MAX_BATCH + 1)
