"""The distillation loss against hand-worked numbers and its limits (alpha 0 is plain cross-entropy, a student equal
to its teacher has no KL, the T^2 factor keeps the soft gradients' size), and the stage's config errors by key."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from engine.config import ConfigError, load_config
from engine.train.distill import distill_loss


def test_hand_worked_two_token_vocabulary():
    # teacher logits (0, ln 3) -> p = (1/4, 3/4); student logits (0, 0) -> q = (1/2, 1/2) at T = 1
    s = torch.tensor([[0.0, 0.0]])
    t = torch.tensor([[0.0, math.log(3.0)]])
    y = torch.tensor([1])
    loss, kl, ce = distill_loss(s, t, y, alpha=0.25, temperature=1.0)
    want_kl = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    want_ce = math.log(2.0)
    assert kl.item() == pytest.approx(want_kl, rel=1e-6)
    assert ce.item() == pytest.approx(want_ce, rel=1e-6)
    assert loss.item() == pytest.approx(0.25 * want_kl + 0.75 * want_ce, rel=1e-6)


def test_temperature_softens_both_sides_and_scales_the_kl_by_t_squared():
    s = torch.tensor([[0.0, 0.0]])
    t = torch.tensor([[0.0, 2.0 * math.log(3.0)]])  # at T = 2 the teacher is again (1/4, 3/4)
    loss, kl, _ = distill_loss(s, t, torch.tensor([0]), alpha=1.0, temperature=2.0)
    want_kl = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    assert kl.item() == pytest.approx(want_kl, rel=1e-6)
    assert loss.item() == pytest.approx(4.0 * want_kl, rel=1e-6)


def test_alpha_zero_is_the_summed_cross_entropy_and_an_equal_teacher_has_no_kl():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(7, 11, generator=g)
    y = torch.randint(0, 11, (7,), generator=g)
    loss, kl, ce = distill_loss(s, torch.randn(7, 11, generator=g), y, alpha=0.0, temperature=3.0)
    assert loss.item() == pytest.approx(F.cross_entropy(s, y, reduction="sum").item(), rel=1e-6)
    assert ce.item() == pytest.approx(loss.item(), rel=1e-6) and kl.item() > 0
    _, same, _ = distill_loss(s, s.clone(), y, alpha=1.0, temperature=3.0)
    assert abs(same.item()) < 1e-5


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0])
def test_soft_gradient_is_q_minus_p_over_t_times_t_squared(temperature):
    g = torch.Generator().manual_seed(1)
    s = torch.randn(5, 9, generator=g, requires_grad=True)
    t = torch.randn(5, 9, generator=g)
    loss, _, _ = distill_loss(s, t, torch.zeros(5, dtype=torch.long), alpha=1.0, temperature=temperature)
    loss.backward()
    q, p = F.softmax(s.detach() / temperature, -1), F.softmax(t / temperature, -1)
    assert torch.allclose(s.grad, temperature * (q - p), atol=1e-6)


def test_no_target_tokens_give_zero():
    loss, kl, ce = distill_loss(torch.zeros(0, 5), torch.zeros(0, 5), torch.zeros(0, dtype=torch.long), 0.5, 2.0)
    assert loss.item() == kl.item() == ce.item() == 0.0


@pytest.mark.parametrize("stage, key, needle", [
    ({"name": "distill"}, "stage.teacher", "none is set"),
    ({"name": "distill", "teacher": "runs/t", "alpha": 1.5}, "stage.alpha", "[0, 1]"),
    ({"name": "distill", "teacher": "runs/t", "temperature": 0}, "stage.temperature", "> 0"),
])
def test_bad_distill_settings_name_their_key(stage, key, needle):
    with pytest.raises(ConfigError) as e:
        load_config(extra={"stage": stage})
    assert e.value.key == key and needle in str(e.value)


def test_distill_preset_loads_with_a_teacher():
    cfg = load_config(extra={"stage": {"name": "distill", "teacher": "runs/t"}})
    assert (cfg.stage.alpha, cfg.stage.temperature, cfg.data.packing) == (0.5, 2.0, True)
