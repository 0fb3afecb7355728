"""LoRA on a toy model: what trains (only the adapters), that fresh adapters change nothing, that merging gives the
same logits as base + adapters, that the exact parameter count reaches engine.estimate, and that bad targets are
refused by key."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from engine.config import Config, ConfigError, LoraConfig, OptimConfig, StageConfig
from engine.estimate import lora_param_count, memory_bytes
from engine.model.gpt import GPT
from engine.model.lora import (
    BaseModelView,
    LoRALinear,
    adapter_state_dict,
    adapters_disabled,
    apply_lora,
    merge_into,
    trainable_count,
)
from engine.optim import build_optimizer


def toy(model_cfg, seed: int = 0, **kw) -> GPT:
    torch.manual_seed(seed)
    return GPT(model_cfg(**kw)).eval()


def perturb(model: GPT, seed: int = 1) -> None:
    """Non-zero B everywhere (and DoRA magnitudes moved off ||W||), so the adapters really change the model."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("lora_B"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
            elif name.endswith("lora_magnitude"):
                p.mul_(1 + 0.2 * torch.randn(p.shape, generator=g))


def test_only_the_adapters_train_and_the_optimizer_holds_only_them(model_cfg):
    model = toy(model_cfg)
    layers = apply_lora(model, LoraConfig(rank=4))
    assert len(layers) == 2 * 7 and all(isinstance(model.get_submodule(n), LoRALinear) for n in layers)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.endswith(("lora_A", "lora_B")) for n in trainable)
    opt = build_optimizer(model, OptimConfig(), torch.device("cpu"))
    in_opt = {id(p) for g in opt.param_groups for p in g["params"]}
    assert in_opt == {id(p) for p in model.parameters() if p.requires_grad}
    # base names are kept, so a base checkpoint still loads into the adapted model's base weights
    assert "blocks.0.attn.q_proj.weight" in model.state_dict()
    assert set(adapter_state_dict(model)) == {n for n in trainable}


def test_lora_trains_under_5_percent_of_the_tiny_preset_and_estimate_counts_it_exactly(model_cfg):
    from engine.config import load_preset
    tiny = {k: v for k, v in load_preset("models", "tiny")["model"].items() if k != "preset"}
    for activation, targets in (("swiglu", ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                            "down_proj"]), ("gelu", ["q_proj", "v_proj", "up_proj", "down_proj"])):
        model = toy(model_cfg, **{**tiny, "vocab_size": 2048, "activation": activation})
        apply_lora(model, LoraConfig(rank=4, targets=targets))
        trainable, total = trainable_count(model)
        assert trainable == lora_param_count(model.cfg, 4, targets)
        assert trainable / (total - trainable) < 0.05, (activation, trainable, total)


def test_memory_estimate_counts_gradients_and_moments_of_the_adapters_only(model_cfg):
    cfg = Config(model=model_cfg(), stage=StageConfig(name="sft", init="/x"))
    lora = dataclasses.replace(cfg, lora=LoraConfig(rank=4))
    full, adapted = memory_bytes(cfg), memory_bytes(lora)
    n_adapters = lora_param_count(cfg.model, 4, LoraConfig().targets, LoraConfig(rank=4).token_rows)
    assert adapted["optimizer"] == 8 * n_adapters and adapted["grads"] == 4 * n_adapters
    assert adapted["weights"] == full["weights"] + 4 * n_adapters
    assert adapted["total"] < full["total"]


def test_fresh_adapters_leave_the_model_as_it_was_and_disabling_them_gives_the_base(model_cfg):
    model = toy(model_cfg)
    x = torch.randint(0, 512, (2, 16))
    base_logits, _ = model(x)
    apply_lora(model, LoraConfig(rank=4, dropout=0.1))
    assert torch.equal(model(x)[0], base_logits)  # B = 0 (and eval mode: no dropout)
    perturb(model)
    adapted, _ = model(x)
    assert not torch.allclose(adapted, base_logits, atol=1e-4)
    with adapters_disabled(model):
        assert torch.equal(model(x)[0], base_logits)
    assert torch.equal(model(x)[0], adapted)  # switched back on after the block


@pytest.mark.parametrize("dora", [False, True])
def test_merged_weights_give_the_same_logits_as_base_plus_adapters(model_cfg, dora):
    model = toy(model_cfg)
    base_state = {k: v.clone() for k, v in model.state_dict().items()}
    apply_lora(model, LoraConfig(rank=4, alpha=8.0, dora=dora))
    perturb(model)
    x = torch.randint(0, 512, (2, 16))
    adapted, _ = model(x)
    merged = GPT(model.cfg).eval()
    merged.load_state_dict(merge_into(base_state, adapter_state_dict(model), 8.0 / 4))
    assert torch.allclose(merged(x)[0], adapted, atol=1e-5)
    with adapters_disabled(model):  # the magnitudes are bypassed too
        assert torch.equal(model(x)[0], toy(model_cfg)(x)[0])


def test_dora_starts_at_the_base_and_its_merged_rows_have_the_trained_magnitudes(model_cfg):
    """W' = m * V / ||V|| row by row: fresh (B = 0, m = ||W||) it is W; trained, each merged row's length is m."""
    model = toy(model_cfg)
    x = torch.randint(0, 512, (2, 16))
    base_logits, _ = model(x)
    base_state = {k: v.clone() for k, v in model.state_dict().items()}
    apply_lora(model, LoraConfig(rank=4, dora=True))
    assert torch.allclose(model(x)[0], base_logits, atol=1e-5)
    q = model.blocks[0].attn.q_proj
    assert q.lora_magnitude.shape == (q.out_features,)
    assert {n.rsplit(".", 1)[-1] for n, p in model.named_parameters() if p.requires_grad} == {
        "lora_A", "lora_B", "lora_magnitude"}
    perturb(model)
    merged = merge_into(base_state, adapter_state_dict(model), LoraConfig(rank=4).scaling)
    w = merged["blocks.0.attn.q_proj.weight"]
    assert torch.allclose(w.norm(dim=1), q.lora_magnitude.detach(), rtol=1e-5)
    assert torch.allclose(w, base_state["blocks.0.attn.q_proj.weight"] + q.delta_weight().detach(), atol=1e-6)
    loss = model(x)[0].square().mean()
    loss.backward()  # the magnitude and the direction both get a gradient
    assert q.lora_magnitude.grad.abs().sum() > 0 and q.lora_A.grad.abs().sum() > 0


def test_base_view_uses_the_policys_own_weights_in_eval_mode_without_grad(model_cfg):
    model = toy(model_cfg, dropout=0.2)
    x = torch.randint(0, 512, (2, 16))
    base_logits, _ = model(x)
    apply_lora(model, LoraConfig(rank=4))
    perturb(model)
    model.train()
    view = BaseModelView(model)
    logits, _ = view(x)
    assert torch.equal(logits, base_logits) and not logits.requires_grad
    assert model.training and list(view.parameters()) == []


@pytest.mark.parametrize("kw, key", [
    ({"rank": -1}, "lora.rank"), ({"rank": 4, "alpha": 0.0}, "lora.alpha"), ({"rank": 4, "dropout": 1.0},
                                                                              "lora.dropout"),
    ({"rank": 4, "targets": ["q_prj"]}, "lora.targets"), ({"rank": 4, "targets": []}, "lora.targets"),
])
def test_bad_lora_settings_are_named_by_key(kw, key):
    with pytest.raises(ConfigError) as e:
        LoraConfig(**kw)
    assert e.value.key == key


def test_a_target_the_model_lacks_is_refused_naming_lora_targets(model_cfg):
    model = toy(model_cfg, activation="gelu")  # a gelu MLP has no gate_proj
    with pytest.raises(ConfigError) as e:
        apply_lora(model, LoraConfig(rank=4, targets=["q_proj", "gate_proj"]))
    assert e.value.key == "lora.targets" and "gate_proj" in e.value.message and "up_proj" in e.value.hint
    assert not any(isinstance(m, LoRALinear) for m in model.modules())  # refused before anything was changed


def test_lora_without_a_base_checkpoint_is_refused():
    with pytest.raises(ConfigError) as e:
        Config(lora=LoraConfig(rank=4))
    assert e.value.key == "lora.rank" and "stage.init" in e.value.message


SPECIAL = [0, 1, 2]  # rows that train beside the adapters (the toy tokenizer's special ids are its first ones)


def perturb_all(model: GPT, seed: int = 1) -> None:
    """Every trainable tensor non-zero: B and the special-token rows."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("embed", [False, True])
def test_embedding_updates_train_merge_exactly_and_switch_off_with_the_adapters(model_cfg, tied, embed):
    """Special-token rows, and with target `embed` a low-rank update of the embedding (and the head tied to it)."""
    model = toy(model_cfg, tie_embeddings=tied)
    base_state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randint(0, 512, (2, 16))
    x[:, :3] = torch.tensor(SPECIAL)
    base_logits, _ = model(x)
    targets = [*LoraConfig().targets, "embed"] if embed else LoraConfig().targets
    apply_lora(model, LoraConfig(rank=4, alpha=8.0, targets=targets), token_ids=SPECIAL)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    rows = {"embed.token_rows"} | (set() if tied else {"lm_head.token_rows"})
    low_rank = {"embed.lora_A", "embed.lora_B"} if embed else set()
    assert rows | low_rank <= trainable and model.lora_info["token_ids"] == SPECIAL
    assert low_rank or not any(n.startswith("embed.lora") for n in trainable)
    assert set(adapter_state_dict(model)) == trainable | {n.replace("rows", "ids") for n in rows}
    assert torch.equal(model(x)[0], base_logits)  # the rows' update starts at zero
    perturb_all(model)
    adapted, _ = model(x)
    assert not torch.allclose(adapted[:, :3], base_logits[:, :3], atol=1e-4)
    with adapters_disabled(model):
        assert torch.equal(model(x)[0], base_logits)
    merged = GPT(model.cfg).eval()
    merged.load_state_dict(merge_into(base_state, adapter_state_dict(model), 8.0 / 4))
    assert torch.allclose(merged(x)[0], adapted, atol=1e-5)
    assert torch.equal(merged.embed.weight, model.embed.adapted_weight())  # the same arithmetic, bit for bit
    if not embed:
        others = [i for i in range(model.cfg.vocab_size) if i not in SPECIAL]
        assert torch.equal(merged.embed.weight[others], base_state["embed.weight"][others])  # only those rows


def test_special_token_rows_only_receive_gradient_where_those_tokens_are(model_cfg):
    model = toy(model_cfg)
    apply_lora(model, LoraConfig(rank=4), token_ids=SPECIAL)
    x = torch.randint(3, 512, (2, 16))
    x[0, 5] = SPECIAL[1]
    _, loss = model(x[:, :-1], x[:, 1:])
    loss.backward()
    grad = model.embed.token_rows.grad
    assert grad[1].abs().sum() > 0  # seen as input and as a logit
    assert model.embed.weight.grad is None and model.embed.weight.requires_grad is False


def test_the_rows_that_train_are_the_special_tokens_and_the_datas_most_frequent(tok, model_cfg):
    import numpy as np

    from engine.config import Config
    from engine.lora_checkpoint import special_token_ids, token_rows_for
    special = special_token_ids(tok)
    assert tok.im_start_id in special and tok.im_end_id in special and len(special) == 8
    tokens = np.array([100] * 5 + [101] * 3 + [102] * 3 + [103] + [tok.im_end_id] * 9, dtype=np.uint16)
    cfg = Config(stage=StageConfig(name="sft", init="/x"), lora=LoraConfig(rank=4, train_frequent_tokens=2))
    assert token_rows_for(cfg, tok, tokens, 512) == sorted(special + [100, 101])  # a tie goes to the lower id
    off = dataclasses.replace(cfg, lora=LoraConfig(rank=4, train_special_tokens=False, train_frequent_tokens=3))
    assert token_rows_for(off, tok, tokens, 512) == [100, 101, 102]  # <|im_end|> is special, not counted here
    model = toy(model_cfg)
    apply_lora(model, off.lora, token_ids=[])
    assert not any("token" in n for n, p in model.named_parameters() if p.requires_grad)


def test_default_lora_with_special_rows_stays_under_5_percent_and_estimate_counts_it_exactly(model_cfg):
    from engine.config import load_preset
    from engine.tokenizer import SPECIAL_TOKENS
    tiny = {k: v for k, v in load_preset("models", "tiny")["model"].items() if k != "preset"}
    assert LoraConfig(rank=4, train_frequent_tokens=0).token_rows == len(SPECIAL_TOKENS)  # the tokenizer's count
    for tied, cfg in ((True, LoraConfig(rank=4)), (False, LoraConfig(rank=4)),
                      (True, LoraConfig(rank=4, targets=[*LoraConfig().targets, "embed"], train_frequent_tokens=0))):
        model = toy(model_cfg, **{**tiny, "vocab_size": 2048, "tie_embeddings": tied})
        apply_lora(model, cfg, token_ids=list(range(cfg.token_rows)))  # special + 64 frequent ones
        trainable, total = trainable_count(model)
        assert trainable == lora_param_count(model.cfg, 4, cfg.targets, cfg.token_rows)
        assert trainable / (total - trainable) < 0.05, (tied, cfg.targets, trainable, total)
    dora = LoraConfig(rank=4, dora=True)  # one magnitude per output of each of the 28 layers, still under 5%
    model = toy(model_cfg, **{**tiny, "vocab_size": 2048})
    apply_lora(model, dora, token_ids=list(range(dora.token_rows)))
    trainable, total = trainable_count(model)
    assert trainable == lora_param_count(model.cfg, 4, dora.targets, dora.token_rows, dora=True)
    assert trainable - lora_param_count(model.cfg, 4, dora.targets, dora.token_rows) == sum(
        m.out_features for m in model.modules() if isinstance(m, LoRALinear))
    assert trainable / (total - trainable) < 0.05, trainable
