"""engine.estimate's optimizer arithmetic: each optimizer's state size equals what the real optimizer holds after
a step, Muon's matrix count equals the model's, the memory estimate follows optim.name, and the schedule curve
the studio draws is lr_at at its corners."""

from __future__ import annotations

import pytest
import torch

from engine.config import OPTIMIZERS, OptimConfig, build_config
from engine.estimate import lr_at, lr_curve, matrix_params, memory_bytes, optimizer_state_bytes, param_count
from engine.model.gpt import GPT
from engine.optim import build_optimizer, param_groups, second_order, wants_hessian


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def measured_state_bytes(optimizer) -> int:
    """Bytes of the per-parameter tensors the optimizer keeps (0-d step counters are not state worth counting)."""
    states = [optimizer.state] if not hasattr(optimizer, "muon") else [optimizer.muon.state, optimizer.adamw.state]
    return sum(t.numel() * t.element_size() for s in states for st in s.values() for t in st.values()
               if isinstance(t, torch.Tensor) and t.dim() > 0)


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("tied", [True, False])
def test_optimizer_state_estimate_equals_the_real_state_after_a_step(model_cfg, name, tied):
    cfg = model_cfg(vocab_size=64, qk_norm=True, tie_embeddings=tied)
    model = GPT(cfg)
    optimizer = build_optimizer(model, OptimConfig(name=name), torch.device("cpu"))
    x = torch.randint(0, 64, (2, 16))
    hessian = wants_hessian(optimizer)
    with second_order(hessian):
        _, loss = model(x, x)
        loss.backward(create_graph=hessian)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    n = param_count(cfg)["total"]
    assert n == model.num_params()
    assert optimizer_state_bytes(name, n, matrix_params(cfg)) == measured_state_bytes(optimizer)


def test_matrix_params_are_the_blocks_matrices(model_cfg):
    for cfg in (model_cfg(vocab_size=64), model_cfg(vocab_size=64, qk_norm=True, tie_embeddings=False)):
        assert matrix_params(cfg) == sum(p.numel() for p in param_groups(GPT(cfg))["matrix"])


def test_memory_estimate_follows_the_optimizer():
    def mem(name: str) -> dict[str, int]:
        return memory_bytes(build_config({"model": {"vocab_size": 512, "d_model": 64, "n_layer": 2, "n_head": 4,
                                                    "n_kv_head": 2}, "optim": {"name": name}}))
    adamw, lion, muon, sophia = mem("adamw"), mem("lion"), mem("muon"), mem("sophia")
    assert lion["optimizer"] * 2 == adamw["optimizer"] == mem("schedulefree_adamw")["optimizer"]
    assert lion["optimizer"] < muon["optimizer"] < adamw["optimizer"] < sophia["optimizer"]
    assert sophia["optimizer"] * 2 == adamw["optimizer"] * 3
    assert sophia["activations"] == 2 * adamw["activations"]  # a Hessian step keeps the backward's graph
    assert adamw["weights"] == sophia["weights"]


@pytest.mark.parametrize("schedule", ["cosine", "linear", "wsd", "constant"])
def test_the_drawn_curve_is_lr_at_with_its_corners(schedule):
    cfg = OptimConfig(lr=1e-3, warmup_steps=37, schedule=schedule, decay_fraction=0.25)
    steps, lrs = lr_curve(cfg, 1000, points=50)
    assert steps[0] == 0 and steps[-1] == 999 and steps == sorted(set(steps)) and len(steps) < 70
    assert {36, 37, 749, 750} <= set(steps)          # end of warm-up, start of wsd's decay
    assert lrs == [lr_at(s, 1000, cfg) for s in steps]
    assert max(lrs) == pytest.approx(1e-3)
    assert lr_curve(cfg, 0) == ([], [])
