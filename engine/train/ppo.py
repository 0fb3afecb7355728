"""PPO (RLHF): the policy samples replies, stage.reward scores them, and a clipped policy-gradient step with a learned
value baseline raises the score while a per-token KL penalty keeps the policy near its frozen SFT reference.

Per rollout (no gradient; old = the policy that sampled, ref = the frozen SFT weights, s = the reply's score):
  r_t     = -kl_coef * (log pi_old(y_t) - log ref(y_t))  + [t is the reply's last token] * s     (s whitened if asked)
  delta_t = r_t + gamma V_old(t+1) - V_old(t);   A_t = delta_t + gamma lam A_(t+1);   R_t = A_t + V_old(t)   (GAE)
  A is then whitened over the rollout's reply tokens.
  With stage.prompt_baseline, each prompt gets stage.group_size replies and s_i - mean(s of its prompt) replaces s_i
  (before whitening): a reward model's scores differ more between prompts than between the replies to one prompt,
  and the value head, fed one reply per prompt, learns that offset slowly; the group mean removes it at once
  (the baseline of RLOO and GRPO, here inside PPO).
Per step (each pass over the rollout, stage.ppo_epochs passes; fewer once KL(pi_old || pi) passes stage.kl_target):
  L = sum_t max(-A_t rho_t, -A_t clip(rho_t, 1 - eps, 1 + eps))                       rho_t = pi(y_t) / pi_old(y_t)
    + vf_coef * sum_t 1/2 max((V_t - R_t)^2, (V_old + clip(V_t - V_old, -eps, eps) - R_t)^2)
summed over reply tokens; the loop divides by the step's reply tokens. The value head is a small MLP on the
policy's final hidden states, detached, so the value loss trains the head and never pulls on the policy.
pi, pi_old and ref are all taken at stage.rollout_temperature tau (softmax(z / tau)), the distribution the
rollout sampled from: so the ratio is on-policy and the KL is the one between what is sampled and the reference.
"""

from __future__ import annotations

import torch
from torch import nn

from engine.errors import UserError
from engine.train import losses
from engine.train import rollout as ro
from engine.train.rl_stage import RLStage, rollout_stats, split
from engine.train.stage import add_router_loss


class ValueHead(nn.Module):
    """V(state) from the policy's hidden state at each position: (B, T, C) -> (B, T)."""

    def __init__(self, d_model: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_model, d_model), nn.GELU(), nn.Linear(d_model, 1))
        nn.init.zeros_(self.net[2].weight)   # start at V = 0: no baseline rather than a random one
        nn.init.zeros_(self.net[2].bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.net(hidden.float()).squeeze(-1)


def centre_by_prompt(scores: torch.Tensor, group_size: int) -> torch.Tensor:
    """s_i - mean of its prompt's scores; the replies of one prompt are consecutive. E.g. (3, 1, 10, 12) in groups of
    2 gives (1, -1, -1, 1): the first prompt's right reply and the second's are now worth the same."""
    grouped = scores.view(-1, group_size)
    return (grouped - grouped.mean(dim=1, keepdim=True)).view(-1)


class PPOStage(RLStage):
    name = "ppo"

    def setup(self, ctx):
        super().setup(ctx)
        torch.manual_seed(ctx.cfg.run.seed)  # the same head on every run with this seed
        self.value_head = ValueHead(ctx.model.cfg.d_model).to(ctx.rt.device)

    def trainable(self):
        return {"value_head": self.value_head}

    def lr_ratio(self, name):
        return self.cfg.stage.value_lr_ratio if name == "value_head" else 1.0

    def values(self, model, batch):
        """(logits, log-probs, values) of the policy on the batch's rows, all per position, and its MoE router
        stats (None for a dense model)."""
        with ro.HiddenTap(model) as tap:
            logits, logp, router = ro.policy_logprobs(model, batch, self.cfg.stage.rollout_temperature)
        return logits, logp, self.value_head(tap.hidden.detach()), router

    def replies_per_prompt(self) -> int:
        return self.cfg.stage.group_size if self.cfg.stage.prompt_baseline else 1

    def check_batch(self, cfg):
        n, g = cfg.run.batch_size * cfg.run.grad_accum, self.replies_per_prompt()
        if n % g:
            raise UserError(f"with stage.prompt_baseline a PPO step holds run.batch_size x run.grad_accum = {n} "
                            f"replies, which do not split into groups of stage.group_size {g}",
                            f"make run.batch_size x run.grad_accum a multiple of {g}", kind="config")

    @torch.no_grad()
    def rollout(self, index: int) -> list[dict]:
        cfg, s, rt = self.cfg, self.cfg.stage, self.ctx.rt
        n, g = cfg.run.batch_size * cfg.run.grad_accum, self.replies_per_prompt()
        picked = ro.pick_prompts(self.train_items, index, n // g, cfg.run.seed)
        prompts = [self.train_prompts[i] for i in picked for _ in range(g)]      # a prompt's replies are consecutive
        replies = [r for chunk in self.sample_replies(prompts, index) for r in chunk]
        batch = self.rows(prompts, replies)
        mask = batch["mask"]
        old_logp, ref_logp, old_values = [], [], []
        model = self.trainer.model
        for mb in split(batch, cfg.run.batch_size):  # the shapes the loss will see: log-probs match it exactly
            with rt.autocast():
                _, logp, values, _ = self.values(model, mb)
            old_logp.append(logp.float())
            old_values.append(values.float())
            ref_logp.append(ro.frozen_logprobs(self.reference, mb, rt.autocast, s.rollout_temperature))
        old_logp, ref_logp = torch.cat(old_logp), torch.cat(ref_logp)
        old_values = torch.cat(old_values) * mask
        scores = self.score(prompts, replies)
        score = centre_by_prompt(scores, g) if g > 1 else scores
        score = losses.whiten(score) if s.whiten_rewards else score
        kl = losses.kl_penalty(old_logp, ref_logp) * mask                                  # (N, T)
        rewards = -s.kl_coef * kl
        last = mask.argmax(-1) + mask.sum(-1).long() - 1                                   # each reply's last token
        rewards[torch.arange(n, device=mask.device), last] += score
        advantages, returns = losses.gae(rewards, old_values, mask, s.gamma, s.lam)
        advantages = losses.whiten(advantages, mask)
        batch.update(old_logp=old_logp, old_values=old_values, advantages=advantages, returns=returns,
                     kl=losses.masked_mean(kl, mask), **rollout_stats(scores, mask))
        return split(batch, cfg.run.batch_size)

    def loss(self, model, batch):
        s, mask = self.cfg.stage, batch["mask"]
        logits, logp, values, router = self.values(model, batch)
        policy, clip_fraction = losses.ppo_policy_loss(logp, batch["old_logp"], batch["advantages"], mask,
                                                       s.clip_range, n_tokens=1)   # n_tokens=1: the sum
        value = losses.ppo_value_loss(values, batch["old_values"], batch["returns"], mask, s.clip_range, n_tokens=1)
        self.approx_kl.append(losses.masked_mean(losses.k3_kl(batch["old_logp"], logp.detach()), mask))
        extras = {"reward_mean": batch["reward_mean"], "reward_std": batch["reward_std"], "kl": batch["kl"],
                  "clip_fraction": clip_fraction, "value_loss": value.detach() / mask.sum().clamp(min=1),
                  "entropy": losses.masked_mean(losses.entropy_from_logits(logits.detach()), mask),
                  "response_length": batch["response_length"]}
        loss, router_extras = add_router_loss(model, policy + s.vf_coef * value, router, self.count_units(batch))
        return loss, {**extras, **router_extras}
