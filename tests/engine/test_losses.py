"""The alignment losses against values worked out by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import pytest
import torch

from engine.train.losses import (
    IGNORE,
    dpo_loss,
    entropy_from_logits,
    gae,
    group_advantages,
    grpo_loss,
    k3_kl,
    kl_penalty,
    masked_mean,
    ppo_policy_loss,
    ppo_value_loss,
    reward_pair_loss,
    sequence_logprobs,
    target_counts,
    token_logprobs,
    whiten,
)

LN2, LN3 = math.log(2), math.log(3)


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


# ---------------------------------------------------------------- log-probs
def test_sequence_logprobs_sum_reply_tokens_only() -> None:
    # position 0: logits (0, ln 2, 0) -> p = (1/4, 1/2, 1/4), target 1 -> ln(1/2)
    # position 1: logits (0, 0, 0)    -> p = 1/3 each, target 2      -> ln(1/3)
    # position 2: target IGNORE, whatever its logits                   -> 0
    logits = torch.tensor([[[0.0, LN2, 0.0], [0.0, 0.0, 0.0], [50.0, -50.0, 3.0]]])   # (1, 3, 3)
    targets = torch.tensor([[1, 2, IGNORE]])
    per_token = token_logprobs(logits, targets)
    assert per_token.shape == (1, 3)
    assert per_token[0].tolist() == pytest.approx([-LN2, -LN3, 0.0], abs=1e-6)
    assert sequence_logprobs(logits, targets).tolist() == pytest.approx([-math.log(6)], abs=1e-6)  # ln(1/2 * 1/3)
    assert target_counts(targets).tolist() == [2.0]


def test_sequence_logprobs_are_stable_for_huge_logits_and_half_precision() -> None:
    # logits (1e4, 0): log p(0) = -log(1 + e^-1e4) = 0 and log p(1) = -1e4; a naive softmax then log gives -inf/nan
    logits = torch.tensor([[[1e4, 0.0], [1e4, 0.0]]])
    targets = torch.tensor([[0, 1]])
    assert sequence_logprobs(logits, targets).tolist() == pytest.approx([-1e4])
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 11)
    targets = torch.randint(0, 11, (2, 5))
    targets[1, :2] = IGNORE
    naive = torch.log_softmax(logits, -1).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    naive = (naive * (targets != IGNORE)).sum(-1)
    assert torch.allclose(sequence_logprobs(logits, targets), naive, atol=1e-5)
    half = sequence_logprobs(logits.to(torch.bfloat16), targets)
    assert half.dtype == torch.float32 and torch.allclose(half, naive, atol=0.1)


# ---------------------------------------------------------------- DPO family
def test_sigmoid_dpo_pinned_value() -> None:
    # h = (-10 - -11) - (-12 - -11) = 1 - (-1) = 2; L = -log sigma(0.1 * 2) = log(1 + e^-0.2) = 0.598139
    out = dpo_loss(t(-10.0), t(-12.0), t(-11.0), t(-11.0), beta=0.1)
    assert out.losses.item() == pytest.approx(0.598139, abs=1e-6)
    assert out.chosen_reward.item() == pytest.approx(0.1)       # 0.1 * (-10 - -11)
    assert out.rejected_reward.item() == pytest.approx(-0.1)    # 0.1 * (-12 - -11)
    assert out.margin.item() == pytest.approx(0.2)
    assert out.pref_accuracy.item() == 1.0


def test_dpo_with_all_four_equal_is_ln2() -> None:
    # h = 0 -> -log sigma(0) = log 2; nothing is preferred yet
    out = dpo_loss(t(-5.0, -7.0), t(-5.0, -7.0), t(-5.0, -7.0), t(-5.0, -7.0), beta=0.1)
    assert out.losses.tolist() == pytest.approx([LN2, LN2], abs=1e-6)
    assert out.pref_accuracy.tolist() == [0.0, 0.0] and out.margin.tolist() == [0.0, 0.0]


def test_label_smoothing_mixes_in_the_flipped_label() -> None:
    # eps = 0.1, beta h = 0.2: 0.9 * log(1 + e^-0.2) + 0.1 * log(1 + e^0.2)
    #                        = 0.9 * 0.598139 + 0.1 * 0.798139 = 0.618139
    out = dpo_loss(t(-10.0), t(-12.0), t(-11.0), t(-11.0), beta=0.1, label_smoothing=0.1)
    assert out.losses.item() == pytest.approx(0.618139, abs=1e-6)


def test_ipo_and_hinge_pinned_values() -> None:
    # h = 2 as above. ipo: (2 - 1/(2 * 0.1))^2 = (2 - 5)^2 = 9; hinge: max(0, 1 - 0.1 * 2) = 0.8
    args = (t(-10.0), t(-12.0), t(-11.0), t(-11.0))
    assert dpo_loss(*args, beta=0.1, loss_type="ipo").losses.item() == pytest.approx(9.0)
    assert dpo_loss(*args, beta=0.1, loss_type="hinge").losses.item() == pytest.approx(0.8)
    # hinge is 0 once the margin passes 1 / beta: h = 20 -> max(0, 1 - 2) = 0
    assert dpo_loss(t(0.0), t(-20.0), t(0.0), t(0.0), beta=0.1, loss_type="hinge").losses.item() == 0.0


def test_simpo_is_reference_free_and_length_normalised() -> None:
    # chosen -6 over 3 tokens = -2 per token, rejected -12 over 4 = -3 per token: h = -2 - (-3) = 1
    # beta 2, gamma 0.5: z = 2 * 1 - 0.5 = 1.5; L = log(1 + e^-1.5) = 0.201413
    out = dpo_loss(t(-6.0), t(-12.0), None, None, beta=2.0, loss_type="simpo",
                   chosen_len=t(3.0), rejected_len=t(4.0), simpo_gamma=0.5)
    assert out.losses.item() == pytest.approx(0.201413, abs=1e-6)
    assert out.chosen_reward.item() == pytest.approx(-4.0) and out.rejected_reward.item() == pytest.approx(-6.0)
    # the same sums over other lengths flip the preference, though the chosen sum (-6) is still the larger:
    # chosen -6 over 2 tokens = -3, rejected -12 over 6 = -2 -> the rejected reply is likelier per token
    flipped = dpo_loss(t(-6.0), t(-12.0), None, None, beta=2.0, loss_type="simpo",
                       chosen_len=t(2.0), rejected_len=t(6.0))
    assert flipped.pref_accuracy.item() == 0.0
    with pytest.raises(ValueError, match="chosen_len"):
        dpo_loss(t(-6.0), t(-12.0), None, None, beta=2.0, loss_type="simpo")
    with pytest.raises(ValueError, match="not one of"):
        dpo_loss(t(-6.0), t(-12.0), t(0.0), t(0.0), beta=2.0, loss_type="kto")


def test_dpo_gradient_raises_the_chosen_and_lowers_the_rejected() -> None:
    chosen, rejected = t(-10.0).requires_grad_(), t(-12.0).requires_grad_()
    dpo_loss(chosen, rejected, t(-11.0), t(-11.0), beta=0.1).losses.sum().backward()
    # dL/dpi_w = -beta * sigma(-beta h) = -0.1 * sigma(-0.2) = -0.1 * 0.450166 = -0.0450166
    assert chosen.grad.item() == pytest.approx(-0.0450166, abs=1e-6)
    assert rejected.grad.item() == pytest.approx(0.0450166, abs=1e-6)


# ---------------------------------------------------------------- reward model
def test_reward_pair_loss_pinned_value() -> None:
    # -log sigma(1 - 0) = log(1 + e^-1) = 0.313262; equal rewards give log 2
    assert reward_pair_loss(t(1.0, 3.0), t(0.0, 3.0)).tolist() == pytest.approx([0.313262, LN2], abs=1e-6)


# ---------------------------------------------------------------- PPO
def test_gae_three_steps_by_hand_and_padding() -> None:
    # gamma 0.9, lam 0.5, so gamma * lam = 0.45. Row 0, three reply tokens, reward 1 on the last:
    #   t=2: delta = 1 + 0.9 * 0   - 0.7 = 0.3                      A = 0.3
    #   t=1: delta = 0 + 0.9 * 0.7 - 0.6 = 0.03    A = 0.03 + 0.45 * 0.3   = 0.165
    #   t=0: delta = 0 + 0.9 * 0.6 - 0.5 = 0.04    A = 0.04 + 0.45 * 0.165 = 0.11425
    #   returns A + V = (0.61425, 0.765, 1.0)
    # Row 1, two reply tokens then padding (whose 9s must not leak in):
    #   t=1: delta = 0   + 0         - 0.4 = -0.4                    A = -0.4
    #   t=0: delta = 0.5 + 0.9 * 0.4 - 0.2 = 0.66  A = 0.66 + 0.45 * -0.4 = 0.48
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.5, 0.0, 9.0]])
    values = torch.tensor([[0.5, 0.6, 0.7], [0.2, 0.4, 9.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    advantages, returns = gae(rewards, values, mask, gamma=0.9, lam=0.5)
    assert advantages[0].tolist() == pytest.approx([0.11425, 0.165, 0.3], abs=1e-6)
    assert returns[0].tolist() == pytest.approx([0.61425, 0.765, 1.0], abs=1e-6)
    assert advantages[1].tolist() == pytest.approx([0.48, -0.4, 0.0], abs=1e-6)
    assert returns[1].tolist() == pytest.approx([0.68, 0.0, 0.0], abs=1e-6)


def test_gae_with_lam_one_is_discounted_return_minus_value() -> None:
    # lam = 1: A_0 = r_0 + gamma r_1 + gamma^2 r_2 - V_0 = 0 + 0 + 0.81 * 1 - 0.5 = 0.31
    advantages, _ = gae(torch.tensor([[0.0, 0.0, 1.0]]), torch.tensor([[0.5, 0.6, 0.7]]), torch.ones(1, 3), 0.9, 1.0)
    assert advantages[0, 0].item() == pytest.approx(0.31, abs=1e-6)


def test_ppo_policy_loss_clips_only_the_side_that_gains() -> None:
    # ratio e^(ln 1.5) = 1.5 on both tokens, clip 0.2 -> clipped ratio 1.2
    # A = +1: max(-1.5, -1.2) = -1.2 (clipped: no push past 1.2);  A = -1: max(1.5, 1.2) = 1.5 (not clipped)
    # loss = (-1.2 + 1.5) / 2 = 0.15; clip_fraction = 1/2. The padded third token (mask 0) counts nowhere.
    old = torch.zeros(1, 3)
    logp = torch.full((1, 3), math.log(1.5))
    loss, clip_fraction = ppo_policy_loss(logp, old, torch.tensor([[1.0, -1.0, 5.0]]), torch.tensor([[1, 1, 0]]),
                                          clip=0.2)
    assert loss.item() == pytest.approx(0.15, abs=1e-6)
    assert clip_fraction.item() == pytest.approx(0.5)


def test_ppo_value_loss_takes_the_worse_of_clipped_and_unclipped() -> None:
    # V = (1, 0), V_old = (0.5, 0.5), R = (2, 0), clip 0.2 -> V_clip = (0.7, 0.3)
    # token 0: max((1-2)^2, (0.7-2)^2) = max(1, 1.69) = 1.69; token 1: max(0, 0.09) = 0.09
    # 0.5 * (1.69 + 0.09) / 2 = 0.445
    loss = ppo_value_loss(t(1.0, 0.0), t(0.5, 0.5), t(2.0, 0.0), t(1.0, 1.0), clip=0.2)
    assert loss.item() == pytest.approx(0.445, abs=1e-6)


def test_whiten_over_the_mask() -> None:
    # (1, 2, 3): mean 2, population var (1 + 0 + 1) / 3 = 2/3, std 0.816497 -> (-1.224745, 0, 1.224745)
    out = whiten(torch.tensor([[1.0, 2.0, 3.0, 100.0]]), torch.tensor([[1.0, 1.0, 1.0, 0.0]]))
    assert out[0].tolist() == pytest.approx([-1.224745, 0.0, 1.224745, 0.0], abs=1e-5)
    kept = whiten(t(1.0, 2.0, 3.0), shift_mean=False)
    assert kept.tolist() == pytest.approx([0.775255, 2.0, 3.224745], abs=1e-5)


def test_kl_penalty_entropy_and_k3() -> None:
    assert kl_penalty(t(-1.0), t(-1.5)).item() == pytest.approx(0.5)
    # uniform over 4 -> ln 4; p = (1/4, 3/4) from logits (0, ln 3): 0.25 ln 4 + 0.75 ln(4/3) = 0.562335
    entropy = entropy_from_logits(torch.tensor([[[0.0, 0.0, 0.0, 0.0], [0.0, LN3, -1e9, -1e9]]]))
    assert entropy[0].tolist() == pytest.approx([math.log(4), 0.562335], abs=1e-5)
    # d = ref - logp: d = 0 -> 0; d = ln 2 -> 2 - ln 2 - 1 = 0.306853; d = -ln 2 -> 0.5 + ln 2 - 1 = 0.193147
    assert k3_kl(t(-1.0, -1.0 - LN2, -1.0), t(-1.0, -1.0, -1.0 - LN2)).tolist() == pytest.approx(
        [0.0, 0.306853, 0.193147], abs=1e-6)


# ---------------------------------------------------------------- GRPO
def test_group_advantages_hand_worked_group() -> None:
    # group (1, 0, 0, 0): mean 1/4, population var (9/16 + 3 * 1/16) / 4 = 3/16, std sqrt(3)/4 = 0.433013
    #   A = (3/4) / 0.433013 = sqrt(3) = 1.732051 and (-1/4) / 0.433013 = -1/sqrt(3) = -0.577350
    # group (1, 1, 1, 1): every reward equal -> A = 0, and it is one of the two groups with zero variance
    advantages, zero_share = group_advantages(t(1, 0, 0, 0, 1, 1, 1, 1), group_size=4, eps=0.0)
    assert advantages[:4].tolist() == pytest.approx([1.732051, -0.577350, -0.577350, -0.577350], abs=1e-5)
    assert advantages[4:].tolist() == [0.0] * 4
    assert zero_share.item() == 0.5
    with pytest.raises(ValueError, match="groups of 3"):
        group_advantages(t(1, 0, 0, 0), group_size=3)


def test_grpo_loss_is_normalised_over_tokens_not_sequences() -> None:
    # group (1, 0): mean 0.5, std 0.5 -> A = (1, -1). Completion 0 has 3 tokens, completion 1 has 1 token.
    # ratio 1 everywhere: token-level mean of A = (3 * 1 + 1 * -1) / 4 = 0.5, so the loss is -0.5
    # (a mean of per-sequence means would give (1 + -1) / 2 = 0).
    # beta 0.1 with ref - logp = ln 2 on every token: k3 = 0.306853, + 0.1 * 0.306853 -> -0.5 + 0.0306853 = -0.469315
    advantages, _ = group_advantages(t(1.0, 0.0), group_size=2, eps=0.0)
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    logp = torch.full((2, 3), -2.0)
    loss, clip_fraction, kl = grpo_loss(logp, logp, None, advantages, mask, clip=0.2, beta=0.0)
    assert loss.item() == pytest.approx(-0.5, abs=1e-6) and clip_fraction.item() == 0.0 and kl.item() == 0.0
    loss, _, kl = grpo_loss(logp, logp, logp + LN2, advantages, mask, clip=0.2, beta=0.1)
    assert loss.item() == pytest.approx(-0.469315, abs=1e-6)
    assert kl.item() == pytest.approx(0.306853, abs=1e-6)
    # a step split into micro-batches divides by the step's token count: 4 tokens here counted against 8
    loss, _, _ = grpo_loss(logp, logp, None, advantages, mask, clip=0.2, beta=0.0, n_tokens=8)
    assert loss.item() == pytest.approx(-0.25, abs=1e-6)
    with pytest.raises(ValueError, match="ref_logp"):
        grpo_loss(logp, logp, None, advantages, mask, clip=0.2, beta=0.1)


def test_grpo_clips_a_ratio_that_runs_ahead() -> None:
    # ratio 1.5, clip 0.2, A = +1: min(1.5, 1.2) = 1.2 -> clipped; A = -1: min(-1.5, -1.2) = -1.5 -> not
    # loss = -(1.2 - 1.5) / 2 = 0.15
    logp, old = torch.full((2, 1), math.log(1.5)), torch.zeros(2, 1)
    loss, clip_fraction, _ = grpo_loss(logp, old, None, t(1.0, -1.0), torch.ones(2, 1), clip=0.2, beta=0.0)
    assert loss.item() == pytest.approx(0.15, abs=1e-6) and clip_fraction.item() == 0.5


def test_masked_mean_ignores_padding() -> None:
    assert masked_mean(t(1.0, 3.0, 100.0), torch.tensor([True, True, False])).item() == 2.0
