"""An MoE model end to end in-process: the model.moe section (YAML, --set, help), activations, exact parameter
counts (total and active) against the estimate, the router loss reaching a stage's loss, checkpoints, export."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import yaml

from engine import checkpoint as ckpt
from engine.config import ModelConfig, build_config, help_for, load_config, parse_override
from engine.errors import UserError
from engine.estimate import flops_per_token, memory_bytes, param_count
from engine.export import llama_blockers
from engine.model.gpt import GPT, MLP
from engine.model.moe import MoE
from engine.train.pretrain import PretrainStage

V = 96
MOE = {"num_experts": 4, "top_k": 2}


def batch(seed: int = 0, B: int = 2, T: int = 12) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, V, (B, T + 1), generator=g)
    y = ids[:, 1:].clone()
    y[0, :3] = -100
    return {"x": ids[:, :-1], "y": y}


# ---------------------------------------------------------------- config
def test_moe_section_from_yaml_and_set_and_back(tmp_path):
    doc = tmp_path / "run.yaml"
    doc.write_text("model:\n  preset: tiny\n  moe:\n    num_experts: 6\n    top_k: 1\n    every_n_layers: 2\n")
    cfg = load_config(doc, overrides=["model.moe.shared_experts=1", "model.moe.aux_loss_coef=1e-2"])
    m = cfg.model
    assert (m.moe.num_experts, m.moe.top_k, m.moe.every_n_layers, m.moe.shared_experts) == (6, 1, 2, 1)
    assert m.moe.aux_loss_coef == 0.01 and m.moe.z_loss_coef == 0.001
    assert [m.is_moe_layer(i) for i in range(4)] == [False, True, False, True]
    assert build_config(yaml.safe_load(cfg.to_yaml())) == cfg             # run.yaml round trip
    assert load_config(overrides=["model.preset=moe-tiny", "model.moe=null"]).model.moe is None  # back to dense
    assert load_config(overrides=["model.preset=tiny"]).model.moe is None
    assert parse_override("model.moe.top_k=2") == {"model": {"moe": {"top_k": 2}}}


@pytest.mark.parametrize("doc,key", [
    ("model:\n  moe:\n    num_experts: 4\n    top_k: 8\n", "model.moe.top_k"),
    ("model:\n  moe:\n    experts: 4\n", "model.moe.experts"),
    ("model:\n  moe: 4\n", "model.moe"),
    ("model:\n  moe:\n    top_k: two\n", "model.moe.top_k"),
    ("model:\n  moe:\n    every_n_layers: 9\n", "model.moe.every_n_layers"),
    ("model:\n  moe:\n    z_loss_coef: -1\n", "model.moe.z_loss_coef"),
    ("model:\n  activation: relu\n", "model.activation"),
])
def test_bad_moe_values_name_their_key(tmp_path, doc, key):
    path = tmp_path / "bad.yaml"
    path.write_text(doc)
    with pytest.raises(UserError) as e:
        load_config(path)
    assert e.value.message.startswith(f"{key}:"), e.value.message


def test_help_lists_the_nested_moe_knobs():
    model = help_for()["model"]
    assert model["moe"]["default"] is None
    knobs = model["moe"]["knobs"]
    assert list(knobs) == ["num_experts", "top_k", "shared_experts", "every_n_layers", "aux_loss_coef", "z_loss_coef"]
    assert all(len(k["help"]) > 10 for k in knobs.values())
    assert "relu2" in model["activation"]["help"]


# ---------------------------------------------------------------- parameters and activations
@pytest.mark.parametrize("overrides", [
    {"moe": MOE},
    {"moe": {**MOE, "shared_experts": 1}, "tie_embeddings": False},
    {"moe": {"num_experts": 3, "top_k": 1, "every_n_layers": 2}, "n_layer": 4, "activation": "relu2"},
    {"moe": {"num_experts": 5, "top_k": 5}, "activation": "gelu", "d_ff": 40, "qk_norm": True},
    {"activation": "relu2"},
], ids=["moe", "shared-untied", "every2-relu2", "all-experts-gelu", "dense-relu2"])
def test_total_and_active_parameters_equal_the_estimate(model_cfg, overrides):
    cfg = model_cfg(vocab_size=V, **overrides)
    m = GPT(cfg)
    est = param_count(cfg)
    assert m.num_params() == est["total"] == sum(p.numel() for p in m.parameters())
    assert m.num_params(non_embedding=True) == est["non_embedding"]
    assert m.num_active_params() == est["active"]
    assert m.num_active_params(non_embedding=True) == est["active_non_embedding"]
    if cfg.moe is None or cfg.moe.top_k == cfg.moe.num_experts:
        assert est["active"] == est["total"]
    else:
        assert est["active"] < est["total"]


@pytest.mark.parametrize("name,dense", [("moe-tiny", "tiny"), ("moe-small", "small")])
def test_moe_presets_match_their_dense_twin_in_active_parameters(name, dense):
    cfg = load_config(overrides=[f"model.preset={name}"])
    vocab = cfg.tokenizer.vocab_size
    with torch.device("meta"):  # the real module tree, no memory
        m = GPT(dataclasses.replace(cfg.model, vocab_size=vocab))
    est = param_count(cfg.model, vocab)
    assert (m.num_params(), m.num_active_params()) == (est["total"], est["active"])
    dense_cfg = load_config(overrides=[f"model.preset={dense}"]).model
    twin = param_count(dense_cfg, vocab)["total"]
    assert abs(est["active"] - twin) / twin < 0.05 and est["total"] > 1.9 * twin
    assert flops_per_token(cfg.model, 256, vocab) < 1.1 * flops_per_token(dense_cfg, 256, vocab)
    assert memory_bytes(cfg, vocab)["total"] > memory_bytes(load_config(overrides=[f"model.preset={dense}"]),
                                                            vocab)["total"]


def test_hidden_size_rule_keeps_activations_comparable(model_cfg):
    counts = {a: param_count(model_cfg(vocab_size=V, d_model=96, n_head=4, activation=a))["total"]
              for a in ("swiglu", "geglu", "gelu", "relu2")}
    assert max(counts.values()) / min(counts.values()) < 1.02, counts
    cfg = model_cfg(vocab_size=V, activation="relu2")
    assert cfg.ffn_dim == 4 * cfg.d_model
    mlp = MLP(cfg)
    x = torch.randn(5, cfg.d_model)
    expected = torch.relu(x @ mlp.up_proj.weight.T).square() @ mlp.down_proj.weight.T
    torch.testing.assert_close(mlp(x), expected)
    assert mlp.gate_proj is None


def test_every_n_layers_places_experts_in_those_blocks(model_cfg):
    m = GPT(model_cfg(vocab_size=V, n_layer=4, moe={**MOE, "every_n_layers": 2}))
    assert [type(b.mlp) for b in m.blocks] == [MLP, MoE, MLP, MoE]


# ---------------------------------------------------------------- the router loss in a stage's loss
def test_router_loss_reaches_the_stage_loss_while_training_only(model_cfg):
    torch.manual_seed(0)
    m = GPT(model_cfg(vocab_size=V, moe={**MOE, "aux_loss_coef": 0.5, "z_loss_coef": 0.1}))
    b = batch()
    stage = PretrainStage()
    units = int(stage.count_units(b))
    _, ce, router = m(b["x"], b["y"], reduction="sum", return_aux=True)
    torch.testing.assert_close(router.loss, 0.5 * router.aux_loss + 0.1 * router.z_loss)
    loss, extras = stage.loss(m, b)
    torch.testing.assert_close(loss, ce + units * router.loss)
    assert set(extras) == {"aux_loss", "z_loss", "expert_load"} and extras["expert_load"].shape == (4,)
    loss.backward()
    assert m.blocks[0].mlp.router.weight.grad.abs().sum() > 0
    m.eval()
    loss_eval, extras_eval = stage.loss(m, b)
    torch.testing.assert_close(loss_eval, ce.detach())                    # val loss: the plain cross-entropy
    assert extras_eval == {}


def test_a_dense_model_returns_no_router_stats(model_cfg):
    m = GPT(model_cfg(vocab_size=V))
    b = batch()
    logits, loss, router = m(b["x"], b["y"], return_aux=True)
    assert router is None
    assert PretrainStage().loss(m, b)[1] == {}


# ---------------------------------------------------------------- checkpoints and export
def test_moe_checkpoint_round_trips_exactly(model_cfg, tok, tmp_path):
    cfg = model_cfg(vocab_size=tok.vocab_size, moe={**MOE, "shared_experts": 1}, activation="relu2")
    torch.manual_seed(3)
    m = GPT(cfg)
    folder = ckpt.save_checkpoint(tmp_path, 5, m, cfg, tok.to_json(), None, {"stage": "pretrain"})
    again_cfg = ckpt.model_config_of(folder)
    assert again_cfg == cfg and isinstance(again_cfg.moe, type(cfg.moe))
    again = GPT(again_cfg)
    ckpt.load_weights(again, folder)
    b = batch()
    x = b["x"] % tok.vocab_size
    torch.testing.assert_close(again(x)[0], m(x)[0], rtol=0, atol=0)


def test_export_refuses_an_moe_model_naming_the_section(model_cfg):
    why = llama_blockers(model_cfg(vocab_size=V, moe=MOE))
    assert len(why) == 1 and "model.moe" in why[0] and "4 experts" in why[0]
    assert llama_blockers(model_cfg(vocab_size=V)) == []
    assert ModelConfig().moe is None


def test_doctor_reports_total_and_active_parameters_per_preset():
    from engine.hardware import preset_params
    sizes = preset_params()
    assert sizes["moe-tiny"]["params_active"] < sizes["moe-tiny"]["params"]
    assert sizes["tiny"]["params_active"] == sizes["tiny"]["params"]


def test_preference_stages_add_the_router_loss_once_per_pair(model_cfg):
    """DPO (SimPO: no reference to build) and the reward model weigh the router loss by their unit, the pair."""
    from engine.train.dpo import DPOStage
    from engine.train.reward import RewardStage, reward_head
    torch.manual_seed(1)
    m = GPT(model_cfg(vocab_size=V, moe=MOE))
    B, L = 3, 10
    ids = torch.randint(0, V, (2 * B, L))
    mask = torch.zeros(2 * B, L)
    mask[:, 4:] = 1.0
    pairs = {"ids": ids, "mask": mask, "lengths": torch.full((2 * B,), L)}
    dpo = DPOStage()
    dpo.loss_type = "simpo"
    reward = RewardStage()
    reward.head = reward_head(m.cfg.d_model)
    _, _, router = m(ids[:, :-1], return_aux=True)
    _, _, router_full = m(ids, return_aux=True)
    for stage, stats in ((dpo, router), (reward, router_full)):
        m.train()
        loss, extras = stage.loss(m, pairs)
        m.eval()
        plain, plain_extras = stage.loss(m, pairs)
        torch.testing.assert_close(loss - plain, B * stats.loss)
        assert extras["expert_load"].shape == (4,) and "aux_loss" not in plain_extras


@pytest.mark.parametrize("shape", [{"moe": {**MOE, "shared_experts": 1}}, {"activation": "relu2"}])
def test_fast_decode_step_matches_the_model(shape):
    from engine.generate import FastStep
    torch.manual_seed(0)
    model = GPT(ModelConfig(vocab_size=V, d_model=32, n_layer=2, n_head=4, n_kv_head=2, max_seq_len=32,
                            **shape)).eval()
    fast = FastStep.for_model(model)
    assert fast is not None
    prompt = torch.randint(0, V, (3, 6))
    with torch.inference_mode():
        ref_caches, fast_caches = model.new_caches(3, 8), model.new_caches(3, 8)
        model(prompt, caches=ref_caches)
        model(prompt, caches=fast_caches)
        tok = torch.tensor([5, 17, 42])
        ref, _ = model(tok[:, None], caches=ref_caches, pos=6)
        got = fast(tok, fast_caches, 6, None)
    assert (ref[:, -1] - got).abs().max().item() < 1e-5
