"""engine.optim's registry: each `optim.name` builds its optimizer over the kind groups with its own lr scale,
bad names and impossible pairings are refused naming the key, Sophia's Hessian cadence, schedule-free's exact
switch to its average weights, and old two-group AdamW states still load."""

from __future__ import annotations

import copy

import pytest
import torch

from engine.config import OPTIMIZERS, ConfigError, OptimConfig, load_config
from engine.errors import UserError
from engine.model.gpt import GPT
from engine.optim import (
    LION_LR_SCALE,
    MUON_LR_SCALE,
    SOPHIA_LR_SCALE,
    SOPHIA_RHO,
    build_optimizer,
    eval_weights,
    load_optimizer_state,
    second_order,
    set_lr,
    train_mode,
    wants_hessian,
)

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def one_thread():
    """Toy shapes run fastest on one thread; more only contend on a loaded machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def model(model_cfg, **kw) -> GPT:
    torch.manual_seed(0)
    return GPT(model_cfg(vocab_size=64, **kw))


def step(m: GPT, optimizer, x: torch.Tensor) -> float:
    hessian = wants_hessian(optimizer)
    with second_order(hessian):
        _, loss = m(x, x)
        loss.backward(create_graph=hessian)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach())


def test_an_unknown_optimizer_is_refused_naming_the_key_and_the_choices():
    with pytest.raises(ConfigError) as e:
        load_config(overrides=["optim.name=adam"])
    assert e.value.key == "optim.name" and "'adam'" in str(e.value)
    assert all(name in e.value.hint for name in OPTIMIZERS)
    with pytest.raises(ConfigError, match="optim.schedule"):
        load_config(overrides=["optim.schedule=step"])


def test_sophia_is_refused_with_compile_and_with_an_fp16_loss_scaler(model_cfg):
    with pytest.raises(ConfigError, match="optim.name.*torch.compile"):
        load_config(overrides=["optim.name=sophia", "hardware.compile=true"])
    with pytest.raises(UserError, match="optim.name: sophia cannot train under fp16"):
        build_optimizer(model(model_cfg), OptimConfig(name="sophia"), CPU, grad_scaler=True)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_trains_every_parameter_once_and_lowers_the_loss(model_cfg, name):
    m = model(model_cfg, tie_embeddings=False)
    optimizer = build_optimizer(m, OptimConfig(name=name, lr=3e-3, hessian_every=2), CPU)
    ids = [id(p) for g in optimizer.param_groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(m.parameters()))
    x = torch.randint(0, 64, (4, 16), generator=torch.Generator().manual_seed(1))
    losses = [step(m, optimizer, x) for _ in range(8)]
    assert losses[-1] < losses[0], losses


def test_each_optimizer_scales_the_schedule_by_its_groups_lr_scale(model_cfg):
    lrs = {}
    for name in OPTIMIZERS:
        optimizer = build_optimizer(model(model_cfg), OptimConfig(name=name, lr=1e-3), CPU)
        set_lr(optimizer, 2e-3)
        lrs[name] = {g["lr"] for g in optimizer.param_groups}
    assert lrs["adamw"] == lrs["schedulefree_adamw"] == {2e-3}
    assert lrs["muon"] == {2e-3 * MUON_LR_SCALE, 2e-3}           # Muon's matrices, AdamW's rest
    assert lrs["lion"] == {2e-3 * LION_LR_SCALE}
    assert lrs["sophia"] == {2e-3 * (SOPHIA_LR_SCALE / SOPHIA_RHO)}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_a_stage_module_steps_at_its_ratio_of_the_optimizers_scale(model_cfg, name):
    """A stage's extra module (PPO's value head) joins any optimizer at lr_ratio x the scale a later group gets
    there (Muon's: its AdamW part), its matrices' decoupled decay divided by the ratio, and a resumed optimizer
    built with another ratio takes the saved scale back."""
    from engine.train.loop import add_module_groups

    def with_head(ratio):
        optimizer = build_optimizer(model(model_cfg), OptimConfig(name=name, lr=1e-3, weight_decay=0.1), CPU)
        head = torch.nn.Linear(8, 1)
        add_module_groups(optimizer, head, "stage:head", 0.1, ratio)
        return optimizer, {id(p) for p in head.parameters()}

    optimizer, head = with_head(4.0)
    base = optimizer.defaults["lr_scale"]
    set_lr(optimizer, 2e-3)
    groups = [g for g in optimizer.param_groups if all(id(p) in head for p in g["params"])]
    assert [g["lr"] for g in groups] == [pytest.approx(2e-3 * base * 4)] * 2
    assert sorted(g["weight_decay"] for g in groups) == [0.0, pytest.approx(0.1 / 4)]
    resumed, _ = with_head(1.0)
    load_optimizer_state(resumed, optimizer.state_dict(), model(model_cfg))
    set_lr(resumed, 2e-3)
    assert [g["lr"] for g in resumed.param_groups][-2:] == [pytest.approx(2e-3 * base * 4)] * 2


def test_muon_takes_the_blocks_matrices_and_adamw_the_rest(model_cfg):
    m = model(model_cfg, tie_embeddings=False)
    optimizer = build_optimizer(m, OptimConfig(name="muon"), CPU)
    assert [g["kind"] for g in optimizer.muon.param_groups] == ["matrix"]
    assert [g["kind"] for g in optimizer.adamw.param_groups] == ["embedding", "head", "norm"]
    assert all(p.dim() == 2 for p in optimizer.muon.param_groups[0]["params"])
    optimizer.add_param_group({"params": [torch.nn.Parameter(torch.zeros(3))], "kind": "stage:x"})
    assert optimizer.adamw.param_groups[-1]["kind"] == "stage:x" and optimizer.param_groups[-1]["lr_scale"] == 1.0


def test_sophia_estimates_the_hessian_every_k_steps_with_a_second_backward(model_cfg):
    m = model(model_cfg)
    optimizer = build_optimizer(m, OptimConfig(name="sophia", hessian_every=3), CPU)
    x = torch.randint(0, 64, (2, 16), generator=torch.Generator().manual_seed(2))
    cadence = []
    for _ in range(7):
        cadence.append(wants_hessian(optimizer))
        step(m, optimizer, x)
    assert cadence == [True, False, False, True, False, False, True]
    assert all("hessian" in optimizer.state[p] for p in m.parameters())
    assert not wants_hessian(build_optimizer(m, OptimConfig(name="adamw"), CPU))


def test_schedulefree_evaluates_its_average_and_returns_to_training_bit_for_bit(model_cfg):
    m = model(model_cfg)
    optimizer = build_optimizer(m, OptimConfig(name="schedulefree_adamw"), CPU)
    x = torch.randint(0, 64, (2, 16), generator=torch.Generator().manual_seed(3))
    for _ in range(3):
        step(m, optimizer, x)
    y = [p.detach().clone() for p in m.parameters()]
    with eval_weights(optimizer):
        x_avg = [p.detach().clone() for p in m.parameters()]
        saved = copy.deepcopy(optimizer.state_dict())  # as written to trainer_state.pt within the block
    assert any(not torch.equal(a, b) for a, b in zip(x_avg, y, strict=True))  # the average differs from y
    assert all(torch.equal(p, b) for p, b in zip(m.parameters(), y, strict=True))
    # A resume: the saved average weights and the state saved in eval mode give back y exactly.
    other = model(model_cfg)
    with torch.no_grad():
        for p, v in zip(other.parameters(), x_avg, strict=True):
            p.copy_(v)
    restored = build_optimizer(other, OptimConfig(name="schedulefree_adamw"), CPU)
    restored.load_state_dict(saved)
    train_mode(restored)
    assert all(torch.equal(p, b) for p, b in zip(other.parameters(), y, strict=True))


def test_an_adamw_state_saved_in_the_old_two_groups_loads_into_the_kind_groups(model_cfg):
    m = model(model_cfg, qk_norm=True, tie_embeddings=False)
    named = list(m.named_parameters())
    decay = [p for n, p in named if p.dim() >= 2 and "embed" not in n and "lm_head" not in n]
    rest = [p for n, p in named if all(p is not q for q in decay)]
    old = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}])
    x = torch.randint(0, 64, (2, 16), generator=torch.Generator().manual_seed(4))
    step(m, old, x)
    new = build_optimizer(m, OptimConfig(name="adamw"), CPU)
    load_optimizer_state(new, old.state_dict(), m)
    for p in m.parameters():
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(new.state[p][key], old.state[p][key]), key
    assert [g["kind"] for g in new.param_groups] == ["matrix", "embedding", "head", "norm"]
