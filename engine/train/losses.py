"""The alignment losses, written out by hand: log-probs of replies, the DPO family, the reward model's Bradley–Terry
loss, PPO (GAE, clipped policy and value losses, KL penalty, entropy) and GRPO (group advantages, k3 KL).

Pure tensor functions with each formula in its docstring. They know nothing about models, tokenizers, batches or
the training loop: a stage computes log-probs, rewards and masks and calls these. Shapes: B sequences, T positions,
V vocabulary entries; a mask is 1.0 on reply tokens and 0.0 on prompt and padding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.model.cross_entropy import IGNORE

LOSS_TYPES = ("sigmoid", "ipo", "hinge", "simpo")


# ---------------------------------------------------------------- log-probs
def token_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(y_t | y_<t) of each target token; 0.0 where the target is IGNORE.

    logits (B, T, V), targets (B, T) -> (B, T) float32. cross_entropy computes -log_softmax(z)[y] with a
    log-sum-exp, so large logits neither overflow nor lose precision in bf16/fp16 (they are upcast first).
    """
    B, T, V = logits.shape
    nll = F.cross_entropy(logits.float().reshape(B * T, V), targets.reshape(B * T), ignore_index=IGNORE,
                          reduction="none")                                            # (B*T,), 0 where ignored
    return -nll.view(B, T)                                                             # (B, T)


def sequence_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(y | x) = sum_t log p(y_t | x, y_<t) over the target tokens of each row (a sum, not a mean).

    logits (B, T, V), targets (B, T) with IGNORE outside the reply -> (B,) float32.
    """
    return token_logprobs(logits, targets).sum(dim=-1)                                 # (B,)


def target_counts(targets: torch.Tensor) -> torch.Tensor:
    """How many tokens of each row are scored, |y|: targets (B, T) -> (B,) float32 (SimPO divides by it)."""
    return (targets != IGNORE).sum(dim=-1).float()


def masked_mean(x: torch.Tensor, mask: torch.Tensor, n_tokens: float | torch.Tensor | None = None) -> torch.Tensor:
    """Token-level mean: sum_(b,t) x * mask / sum_(b,t) mask, every token of the batch weighing the same.

    A long reply counts by its tokens rather than as one sequence (DAPO's token-level normalisation). Pass
    `n_tokens` to divide by the whole step's token count when a step is split into micro-batches.
    """
    mask = mask.to(x.dtype)
    total = (x * mask).sum()
    count = mask.sum() if n_tokens is None else torch.as_tensor(n_tokens, dtype=x.dtype, device=x.device)
    return total / count.clamp(min=1.0)


# ---------------------------------------------------------------- preference optimisation (DPO family)
@dataclass(frozen=True)
class PreferenceLoss:
    """Per-pair values, each (B,): the loss and what the step events show."""

    losses: torch.Tensor
    chosen_reward: torch.Tensor     # beta * (log pi(y_w|x) - log ref(y_w|x)); SimPO: beta * mean log pi(y_w|x)
    rejected_reward: torch.Tensor
    margin: torch.Tensor            # chosen_reward - rejected_reward
    pref_accuracy: torch.Tensor     # 1.0 where the chosen reply has the higher implicit reward


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    ref_chosen: torch.Tensor | None,
    ref_rejected: torch.Tensor | None,
    beta: float,
    loss_type: str = "sigmoid",
    label_smoothing: float = 0.0,
    chosen_len: torch.Tensor | None = None,
    rejected_len: torch.Tensor | None = None,
    simpo_gamma: float = 0.5,
) -> PreferenceLoss:
    """Preference losses on summed reply log-probs (each argument (B,)); y_w chosen, y_l rejected.

    With the log-ratio margin h = [log pi(y_w) - log ref(y_w)] - [log pi(y_l) - log ref(y_l)]:
      sigmoid (DPO):  L = -(1 - eps) log sigma(beta h) - eps log sigma(-beta h)      (eps = label_smoothing)
      ipo:            L = (h - 1 / (2 beta))^2
      hinge (SLiC):   L = max(0, 1 - beta h)
    SimPO has no reference and uses average log-probs, h = log pi(y_w) / |y_w| - log pi(y_l) / |y_l|:
      simpo:          L = -(1 - eps) log sigma(beta h - gamma) - eps log sigma(gamma - beta h)
    E.g. sigmoid, policy -10 / -12, reference -11 / -11, beta 0.1: h = 1 - (-1) = 2, L = log(1 + e^-0.2) = 0.598139.
    """
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"loss_type {loss_type!r} is not one of {', '.join(LOSS_TYPES)}")
    if loss_type == "simpo":
        if chosen_len is None or rejected_len is None:
            raise ValueError("simpo needs chosen_len and rejected_len (reply token counts)")
        chosen = policy_chosen / chosen_len.clamp(min=1)                              # average log-prob per token
        rejected = policy_rejected / rejected_len.clamp(min=1)
    else:
        if ref_chosen is None or ref_rejected is None:
            raise ValueError(f"{loss_type} needs the reference log-probs ref_chosen and ref_rejected")
        chosen = policy_chosen - ref_chosen                                           # log pi/ref of y_w
        rejected = policy_rejected - ref_rejected
    h = chosen - rejected                                                              # (B,)

    if loss_type == "sigmoid":
        losses = -(1 - label_smoothing) * F.logsigmoid(beta * h) - label_smoothing * F.logsigmoid(-beta * h)
    elif loss_type == "ipo":
        losses = (h - 1 / (2 * beta)) ** 2
    elif loss_type == "hinge":
        losses = torch.relu(1 - beta * h)
    else:
        z = beta * h - simpo_gamma
        losses = -(1 - label_smoothing) * F.logsigmoid(z) - label_smoothing * F.logsigmoid(-z)

    chosen_reward, rejected_reward = (beta * chosen).detach(), (beta * rejected).detach()
    return PreferenceLoss(
        losses=losses,
        chosen_reward=chosen_reward,
        rejected_reward=rejected_reward,
        margin=chosen_reward - rejected_reward,
        pref_accuracy=(chosen_reward > rejected_reward).float(),
    )


# ---------------------------------------------------------------- reward model
def reward_pair_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """Bradley–Terry: P(y_w preferred) = sigma(r_w - r_l), so L = -log sigma(r_w - r_l) per pair, (B,) -> (B,).

    E.g. rewards (1, 0): L = log(1 + e^-1) = 0.313262.
    """
    return -F.logsigmoid(r_chosen - r_rejected)


def reward_center_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """(r_w + r_l)^2 per pair, (B,) -> (B,): small when a prompt's scores sit around 0.

    Bradley–Terry sees only the difference r_w - r_l, so each prompt's scores may carry any offset; PPO then reads that
    offset as advantage noise (on the built-in tasks ~80% of a reward model's score variance was the prompt's, not the
    reply's). Weighted by stage.rm_center (Eisenstein et al. 2023, "Helping or Herding?"). E.g. rewards (1, 0): 1.0.
    """
    return (r_chosen + r_rejected) ** 2


# ---------------------------------------------------------------- PPO
def kl_penalty(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token KL estimate k1 = log pi(y_t) - log ref(y_t), (B, T) -> (B, T).

    Its mean over tokens sampled from pi estimates KL(pi || ref); PPO's token reward is r_t = -kl_coef * k1_t,
    plus the score of the whole reply on its last token.
    """
    return logp - ref_logp


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over each reply, all (B, T) -> (advantages, returns), both (B, T).

      delta_t = r_t + gamma * V_(t+1) - V_t          (V after the last reply token is 0: the episode ends)
      A_t     = delta_t + gamma * lam * A_(t+1)
      R_t     = A_t + V_t                            (the value head's target)
    Each row's reply is one run of mask = 1; positions outside it get 0 and do not leak into the reply.
    """
    mask = mask.to(values.dtype)
    B, T = values.shape
    advantages = torch.zeros_like(values)
    next_value = values.new_zeros(B)                                                   # V_(t+1), 0 past the end
    next_advantage = values.new_zeros(B)                                               # A_(t+1)
    for t in reversed(range(T)):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        advantage = (delta + gamma * lam * next_advantage) * mask[:, t]
        advantages[:, t] = advantage
        next_value = values[:, t] * mask[:, t]
        next_advantage = advantage
    returns = (advantages + values) * mask
    return advantages, returns


def whiten(x: torch.Tensor, mask: torch.Tensor | None = None, shift_mean: bool = True, eps: float = 1e-8
           ) -> torch.Tensor:
    """(x - mean) / std over the masked entries (all entries without a mask); masked-out entries become 0.

    The std is the population one, sqrt(mean((x - mean)^2)). With shift_mean=False the mean is added back, so
    rewards are rescaled but keep their sign.
    """
    if mask is None:
        mask = torch.ones_like(x)
    mask = mask.to(x.dtype)
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    out = (x - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        out = out + mean
    return out * mask


def ppo_policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                    clip: float, n_tokens: float | torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Clipped surrogate, token-level mean: (loss, clip_fraction), inputs (B, T).

      ratio_t = exp(log pi(y_t) - log pi_old(y_t))
      L = mean_t max(-A_t ratio_t, -A_t clip(ratio_t, 1 - clip, 1 + clip))
    clip_fraction is the share of tokens where the clipped term is the larger one (its gradient is 0 there).
    """
    ratio = torch.exp(logp - old_logp)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1 - clip, 1 + clip)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask, n_tokens)
    clip_fraction = masked_mean((clipped > unclipped).float(), mask).detach()
    return loss, clip_fraction


def ppo_value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
                   clip: float, n_tokens: float | torch.Tensor | None = None) -> torch.Tensor:
    """Clipped value loss, token-level mean, inputs (B, T):

      V_clip = V_old + clip(V - V_old, -clip, clip)
      L = 1/2 mean_t max((V_t - R_t)^2, (V_clip_t - R_t)^2)
    """
    clipped_values = old_values + torch.clamp(values - old_values, -clip, clip)
    worst = torch.maximum((values - returns) ** 2, (clipped_values - returns) ** 2)
    return 0.5 * masked_mean(worst, mask, n_tokens)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """H = -sum_v p_v log p_v = logsumexp(z) - sum_v p_v z_v per position: (B, T, V) -> (B, T)."""
    logits = logits.float()
    p = torch.softmax(logits, dim=-1)
    return torch.logsumexp(logits, dim=-1) - (p * logits).sum(dim=-1)


# ---------------------------------------------------------------- GRPO
def group_advantages(rewards: torch.Tensor, group_size: int, eps: float = 1e-4) -> tuple[torch.Tensor, torch.Tensor]:
    """A_i = (r_i - mean_g) / (std_g + eps) within each group of completions of one prompt.

    rewards (N,), groups consecutive (N = prompts * group_size) -> (advantages (N,), zero_std_share ()):
    the share of groups whose rewards are all equal, whose advantages are all 0 and which teach nothing.
    std_g is the population std. E.g. the group (1, 0, 0, 0): mean 1/4, std sqrt(3)/4, A = (sqrt(3), -1/sqrt(3) x3).
    """
    if group_size < 2 or rewards.numel() % group_size:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group_size} (need 2 or more each)")
    grouped = rewards.float().view(-1, group_size)                                    # (prompts, G)
    mean = grouped.mean(dim=1, keepdim=True)
    std = grouped.std(dim=1, unbiased=False, keepdim=True)
    flat = grouped.max(dim=1, keepdim=True).values == grouped.min(dim=1, keepdim=True).values   # (prompts, 1)
    advantages = torch.where(flat, 0.0, (grouped - mean) / (std + eps))              # 0, not 0/0, when flat
    zero_std_share = flat.float().mean()
    return advantages.view(-1), zero_std_share


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimator of KL(pi || ref): with d = log ref(y_t) - log pi(y_t), k3 = e^d - d - 1 >= 0.

    Unbiased, always non-negative and lower-variance than -d (Schulman's "Approximating KL divergence").
    """
    d = ref_logp - logp
    return torch.exp(d) - d - 1


def grpo_loss(logp: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor | None, advantages: torch.Tensor,
              mask: torch.Tensor, clip: float, beta: float, n_tokens: float | torch.Tensor | None = None
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """GRPO's clipped objective with a k3 KL term, normalised over every token of the batch: (loss, clip_fraction, kl).

      ratio_t = exp(log pi(y_t) - log pi_old(y_t)),  A_t = the completion's group advantage
      L = -sum_(b,t) mask * [min(ratio_t A_t, clip(ratio_t, 1 - clip, 1 + clip) A_t) - beta k3_t] / sum mask
    logp, old_logp, ref_logp, mask (B, T); advantages (B,). With beta = 0 no reference is needed (ref_logp None).
    """
    if beta and ref_logp is None:
        raise ValueError("grpo_loss with beta > 0 needs ref_logp")
    adv = advantages.unsqueeze(-1)                                                    # (B, 1), one per completion
    ratio = torch.exp(logp - old_logp)
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1 - clip, 1 + clip) * adv
    objective = torch.minimum(unclipped, clipped)                                     # (B, T)
    kl = k3_kl(logp, ref_logp) if ref_logp is not None else torch.zeros_like(logp)
    if beta:
        objective = objective - beta * kl
    loss = -masked_mean(objective, mask, n_tokens)
    clip_fraction = masked_mean((clipped < unclipped).float(), mask).detach()
    return loss, clip_fraction, masked_mean(kl, mask).detach()
