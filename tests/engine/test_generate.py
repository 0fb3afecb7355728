"""Generation: padded batches match single prompts, beam search and top-k=1 reduce to greedy, seeded sampling
repeats, stop tokens and strings end a row, and the streaming iterator agrees with the callback API."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from inference_fixtures import *  # noqa: F403 - the toy / toy_lm session fixtures

from engine.generate import BeamDecoding, FastStep, SamplingError, SamplingParams, trim_at_stop

PROMPTS = ["What is 3 + 4?", "the model learns", "小模型", "<|im_start|>user\nhello 7<|im_end|>\n"]


def encode(toy, texts=PROMPTS):
    return [toy.tok.encode(t) for t in texts]


def seq_logprob(model, prompt: list[int], new: list[int]) -> float:
    ids = torch.tensor([prompt + new])
    with torch.no_grad():
        logits, _ = model(ids)
    logp = logits[0, len(prompt) - 1:-1].float().log_softmax(-1)
    return float(logp.gather(-1, torch.tensor(new)[:, None]).sum())


def test_padded_batch_matches_each_prompt_alone(toy):
    gen, prompts = toy.generator(stop_ids=[]), encode(toy)
    assert len({len(p) for p in prompts}) > 1, "the prompts must differ in length to exercise padding"
    params = SamplingParams.greedy(20)
    batch = gen.generate(prompts, params)
    alone = [gen.generate([p], params)[0] for p in prompts]
    assert batch == alone
    assert all(len(b) == 20 for b in batch)


def test_beam_search_with_one_beam_is_greedy(toy):
    gen, prompts = toy.generator(), encode(toy)
    params = SamplingParams.greedy(24)
    greedy = gen.complete(prompts, params)
    run = BeamDecoding(gen, prompts, params)
    events = list(run)
    assert [c.ids for c in run.completions] == [c.ids for c in greedy]
    assert [c.finish_reason for c in run.completions] == [c.finish_reason for c in greedy]
    assert [tok for row, tok in events if row == 1] == greedy[1].ids


def test_top_k_one_is_greedy(toy):
    gen, prompts = toy.generator(), encode(toy)
    greedy = gen.generate(prompts, SamplingParams.greedy(16))
    sampled = gen.generate(prompts, SamplingParams(max_new_tokens=16, temperature=1.3, top_k=1, seed=5))
    assert sampled == greedy


def test_seeded_sampling_is_reproducible(toy):
    gen, prompts = toy.generator(stop_ids=[]), encode(toy)
    params = SamplingParams(max_new_tokens=16, temperature=1.0, top_p=0.95, min_p=0.01, seed=123)
    first = gen.generate(prompts, params)
    assert gen.generate(prompts, params) == first
    others = [gen.generate(prompts, SamplingParams(max_new_tokens=16, temperature=1.0, seed=s)) for s in (1, 2)]
    assert others[0] != others[1], "different seeds should give different samples"


def test_beam_search_finds_a_likelier_sequence_than_greedy(toy):
    gen = toy.generator(stop_ids=[])
    for prompt in encode(toy):
        greedy = gen.generate([prompt], SamplingParams.greedy(2))[0]
        beam = gen.generate([prompt], SamplingParams(max_new_tokens=2, temperature=0, num_beams=4,
                                                     length_penalty=0.0))[0]
        assert len(beam) == 2
        # Over two steps a beam of >= 2 always holds greedy's path, so its best can only be as good or better.
        assert seq_logprob(toy.model, prompt, beam) >= seq_logprob(toy.model, prompt, greedy) - 1e-5


def test_caller_stop_tokens_end_a_row(toy):
    gen = toy.generator(stop_ids=[])
    prompt = encode(toy)[0]
    free = gen.complete([prompt], SamplingParams.greedy(12))[0]
    assert free.finish_reason == "length"
    stop_tok = free.ids[4]
    cut = free.ids.index(stop_tok)
    c = gen.complete([prompt], SamplingParams(max_new_tokens=12, temperature=0, stop_ids=[stop_tok]))[0]
    assert c.ids == free.ids[:cut] and c.finish_reason == "stop"
    beam = gen.complete([prompt], SamplingParams(max_new_tokens=12, temperature=0, stop_ids=[stop_tok], num_beams=3))
    assert stop_tok not in beam[0].ids  # beams may prefer a path that never stops, but never emit the stop token


def test_stop_strings_end_a_row_and_trim(toy):
    gen = toy.generator(stop_ids=[])
    prompt = encode(toy)[1]
    free = gen.generate([prompt], SamplingParams.greedy(20))[0]
    text = toy.tok.decode(free)
    stop = text[len(text) // 2:len(text) // 2 + 2]
    assert stop.strip(), f"pick a visible stop string from {text!r}"
    c = gen.complete([prompt], SamplingParams(max_new_tokens=20, temperature=0, stop_strings=[stop]))[0]
    assert c.finish_reason == "stop" and len(c.ids) < len(free)
    got, found = trim_at_stop(toy.tok.decode(c.ids), [stop])
    assert found and text.startswith(got) and stop not in got


def test_stream_iterator_agrees_and_can_be_cancelled(toy):
    gen, prompts = toy.generator(stop_ids=[]), encode(toy)
    params = SamplingParams.greedy(10)
    expected = gen.generate(prompts, params)
    run = gen.stream(prompts, params)
    rows: dict[int, list[int]] = {}
    for row, tok in run:
        assert not torch.is_inference_mode_enabled(), "inference mode must not leak into the caller's loop"
        rows.setdefault(row, []).append(tok)
    assert [rows[i] for i in range(len(prompts))] == expected
    assert {c.finish_reason for c in run.completions} == {"length"}

    toy.model.train()
    run = gen.stream(prompts, params)
    for n, _ in enumerate(run):
        if n == 5:
            break
    del _
    assert toy.model.training, "the model's mode is restored after a cancelled stream"
    toy.model.eval()
    assert all(c.finish_reason == "cancelled" for c in run.completions)


def test_callback_can_cancel(toy):
    gen = toy.generator(stop_ids=[])
    seen: list[int] = []
    out = gen.generate(encode(toy)[:1], SamplingParams.greedy(30),
                       on_tokens=lambda r, t: seen.append(t) or len(seen) < 3)
    assert out[0] == seen and len(seen) == 3


def test_budget_is_capped_by_the_context(toy):
    gen = toy.generator(stop_ids=[])
    max_len = toy.model.cfg.max_seq_len
    c = gen.complete([[5] * (max_len - 3)], SamplingParams.greedy(50))[0]
    assert len(c.ids) == 3 and c.finish_reason == "length"
    assert gen.complete([[5] * max_len], SamplingParams.greedy(5))[0].ids == []
    assert gen.generate([], SamplingParams.greedy(5)) == []
    with pytest.raises(SamplingError, match="empty"):
        gen.generate([[5], []], SamplingParams.greedy(5))


@pytest.mark.parametrize("bad", [dict(temperature=-1), dict(top_p=0), dict(top_k=-2), dict(min_p=2),
                                 dict(repetition_penalty=0), dict(num_beams=0), dict(num_beams=2, temperature=0.7),
                                 dict(max_new_tokens=-1)])
def test_impossible_settings_are_refused(toy, bad):
    with pytest.raises(SamplingError) as err:
        toy.generator().generate(encode(toy)[:1], SamplingParams(**bad))
    assert isinstance(err.value, ValueError) and err.value.kind == "request"


def test_repetition_penalty_changes_greedy_output(toy):
    gen = toy.generator(stop_ids=[])
    prompt = encode(toy)[:1]
    plain = gen.generate(prompt, SamplingParams.greedy(24))[0]
    penalised = gen.generate(prompt, SamplingParams(max_new_tokens=24, temperature=0, repetition_penalty=5.0))[0]
    assert len(set(penalised)) >= len(set(plain))


def test_cli_single_prompt(toy, capsys):
    from engine.cli import main
    assert main(["generate", str(toy.folder), "--prompt", "What is 3 + 4?", "--temperature", "0",
                 "--max-new-tokens", "8", "--json", "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["params"]["temperature"] == 0.0 and result["completion_tokens"] <= 8
    assert main(["generate", str(toy.folder), "--prompt", "hi", "--num-beams", "2", "--temperature", "0.5"]) == 2
    assert "beam search is deterministic" in capsys.readouterr().err


def test_cli_batch_writes_one_result_per_line(toy, tmp_path, capsys):
    from engine.cli import main
    lines = [{"prompt": "What is 3 + 4?", "id": "a"}, {"messages": [{"role": "user", "content": "hello 7"}]},
             {"prompt": "小模型", "params": {"temperature": 0.9, "seed": 3}},
             {"prompt": "the model", "params": {"num_beams": 2}}]
    src = tmp_path / "prompts.jsonl"
    src.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    out = tmp_path / "results.jsonl"
    args = ["generate", str(toy.folder), "--mode", "batch", "--input", str(src), "--output", str(out),
            "--max-new-tokens", "6", "--temperature", "0", "--device", "cpu"]
    assert main(args) == 0
    results = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r["index"] for r in results] == [1, 2, 3, 4] and results[0]["id"] == "a"
    assert results[2]["params"]["temperature"] == 0.9 and results[2]["params"]["seed"] == 3
    assert results[3]["params"]["num_beams"] == 2 and all(r["completion_tokens"] <= 6 for r in results)
    before = out.read_text(encoding="utf-8")
    assert main(args) == 2 and "already exists" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == before
    src.write_text('{"prompt": "ok"}\n{"prompt": 5}\n', encoding="utf-8")
    assert main(args[:-8] + ["--output", str(tmp_path / "new.jsonl")]) == 2
    assert "prompts.jsonl:2:" in capsys.readouterr().err and not (tmp_path / "new.jsonl").exists()


@pytest.mark.parametrize("shape", [dict(), dict(activation="geglu", qk_norm=True), dict(activation="gelu", n_kv_head=4),
                                   dict(n_kv_head=1, tie_embeddings=False)])
def test_fast_step_matches_the_model(shape):
    from engine.config import ModelConfig
    from engine.model.gpt import GPT
    torch.manual_seed(0)
    model = GPT(ModelConfig(**{"vocab_size": 97, "d_model": 32, "n_layer": 2, "n_head": 4, "n_kv_head": 2,
                               "max_seq_len": 32, **shape})).eval()
    fast = FastStep.for_model(model)
    assert fast is not None
    prompt = torch.randint(0, 97, (3, 6))
    valid = torch.ones(3, 8, dtype=torch.bool)
    valid[0, :2] = False  # row 0 is left-padded: its first two keys are hidden
    with torch.inference_mode():
        ref_caches, fast_caches = model.new_caches(3, 8), model.new_caches(3, 8)
        model(prompt, caches=ref_caches)
        model(prompt, caches=fast_caches)
        tok = torch.tensor([5, 17, 42])
        mask = valid[:, None, None, :7]
        ref, _ = model(tok[:, None], mask=mask, caches=ref_caches, pos=6)
        got = fast(tok, fast_caches, 6, mask)
    assert (ref[:, -1] - got).abs().max().item() < 1e-5
    assert torch.equal(ref_caches[1].k[:, :, :7], fast_caches[1].k[:, :, :7])


def test_fast_step_stands_aside_for_wrapped_or_low_precision_models(toy):
    assert FastStep.applies_to(toy.model)

    class Wrapped(torch.nn.Linear):  # what an adapter (LoRA) looks like from outside
        pass
    model = copy.deepcopy(toy.model)
    old = model.blocks[0].attn.q_proj
    model.blocks[0].attn.q_proj = Wrapped(old.in_features, old.out_features, bias=False)
    assert not FastStep.applies_to(model)
    assert not FastStep.applies_to(copy.deepcopy(toy.model).to(torch.bfloat16))
    hooked = copy.deepcopy(toy.model)
    hooked.blocks[1].mlp.register_forward_hook(lambda *a: None)
    assert not FastStep.applies_to(hooked)
