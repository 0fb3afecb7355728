"""Looking inside a reply: the token probabilities are the model's own, the recomputed attention weights are the
ones the fused kernel used, and `serve --stdio` answers `inspect` for a finished reply (and refuses bad ones)."""

from __future__ import annotations

import pytest
import torch
from inference_fixtures import *  # noqa: F403 - the toy fixtures
from test_serve_stdio import Session

from engine.introspect import attention_weights, inspect_reply, token_text

HI = [{"role": "user", "content": "hello 7"}]


def test_probabilities_are_the_models_softmax_and_top_alternatives_are_sorted(toy):
    prompt, _ = toy.tok.encode_chat(HI, add_generation_prompt=True)
    reply = toy.tok.encode("hi there")
    found = inspect_reply(toy.model, toy.tok, prompt, reply, layer=1, head=None)
    with torch.no_grad():
        logits, _ = toy.model(torch.tensor([prompt + reply]))
    probs = logits[0].float().softmax(-1)
    assert found.reply_start == len(prompt)
    for t in range(len(prompt), len(prompt) + len(reply)):
        tok = found.tokens[t]
        assert tok["reply"] and tok["prob"] == pytest.approx(float(probs[t - 1, tok["id"]]), abs=1e-5)
        tops = [a["prob"] for a in tok["top"]]
        assert len(tops) == 5 and tops == sorted(tops, reverse=True) and tops[0] >= tok["prob"] - 1e-6
    assert not any(t["reply"] for t in found.tokens[:len(prompt)])


def test_recomputed_attention_reproduces_the_sdpa_output(toy):
    """A @ V with our weights equals what the fused kernel computed inside the block: they are the same weights."""
    model = toy.model
    ids = torch.tensor([toy.tok.encode("the model learns to predict")])
    T = ids.shape[1]
    cos, sin = model.rope_cos[:T], model.rope_sin[:T]
    x = model.embed(ids)
    block, attn = model.blocks[0], model.blocks[0].attn
    with torch.no_grad():
        weights = attention_weights(model, 0, x, cos, sin)                        # (H, T, T)
        h = block.attn_norm(x)
        v = attn.v_proj(h).view(1, T, attn.n_kv_head, attn.head_dim).transpose(1, 2)
        v = v.repeat_interleave(attn.n_head // attn.n_kv_head, dim=1)[0]         # (H, T, D)
        ours = attn.o_proj((weights @ v).transpose(0, 1).reshape(1, T, -1))
        fused = attn(h, cos, sin)
    assert torch.allclose(ours, fused, atol=1e-5)
    assert torch.allclose(weights.sum(-1), torch.ones(attn.n_head, T), atol=1e-5)
    assert float(weights.triu(1).abs().max()) == 0.0                               # causal


def test_attention_rows_cover_each_reply_tokens_context_and_sum_to_one(toy):
    prompt = toy.tok.encode("What is 3 + 4?")
    reply = toy.tok.encode(" 7")
    for head in (None, 0, 3):
        found = inspect_reply(toy.model, toy.tok, prompt, reply, layer=0, head=head)
        assert len(found.attention) == len(reply)
        for i, row in enumerate(found.attention):
            assert len(row) == len(prompt) + i                                       # keys before the chosen token
            assert sum(row) == pytest.approx(1.0, abs=1e-3)


def test_a_token_holding_part_of_a_character_shows_its_bytes(toy):
    ids = toy.tok.encode("北")
    texts = [token_text(toy.tok, i) for i in ids]
    assert "".join(texts) == "北" or any(t.startswith("⟨") for t in texts)
    assert all("\ufffd" not in t for t in texts)


def test_bad_layer_or_head_is_refused_by_name(toy):
    with pytest.raises(ValueError, match="layer must be 0 .. 1"):
        inspect_reply(toy.model, toy.tok, [1, 2], [3], layer=5)
    with pytest.raises(ValueError, match="head must be 0 .. 3"):
        inspect_reply(toy.model, toy.tok, [1, 2], [3], head=4)


@pytest.fixture
def session(toy_lm):
    s = Session(toy_lm)
    yield s
    s.close()


def test_serve_answers_inspect_for_a_finished_reply_with_its_exact_tokens(session):
    session.send("generate", id=1, messages=HI, params={"max_new_tokens": 6, "temperature": 1.0, "seed": 3})
    session.sink.wait_for(lambda e: e["event"] == "done" and e["id"] == 1)
    session.send("inspect", id="look", reply_id=1, layer=0, head=None)
    ev = session.sink.wait_for(lambda e: e["event"] == "inspect" and e["id"] == "look")
    reply = [t for t in ev["tokens"] if t["reply"]]
    assert len(reply) == len(ev["attention"]) and 1 <= len(reply) <= 6
    assert ev["n_layer"] == 2 and ev["n_head"] == 4 and ev["layer"] == 0


@pytest.mark.parametrize("command, expected", [
    ({"reply_id": 99}, "reply_id 99 is not one of the last"),
    ({"messages": HI}, "the last message must be the assistant's reply"),
    ({"messages": HI + [{"role": "assistant", "content": "hi"}], "layer": 7}, "'layer' must be a whole number"),
    ({"messages": HI + [{"role": "assistant", "content": "hi"}], "head": -1}, "'head' must be a whole number"),
])
def test_bad_inspect_requests_name_the_field(session, command, expected):
    session.send("inspect", id="bad", **command)
    err = session.sink.wait_for(lambda e: e["event"] == "error" and e["id"] == "bad")
    assert expected in err["message"]
    session.send("inspect", id="ok", messages=HI + [{"role": "assistant", "content": "hi there"}])
    assert session.sink.wait_for(lambda e: e["event"] == "inspect" and e["id"] == "ok")["tokens"]
