"""GRPO (RL with verifiable rewards): a group of G replies per prompt, each scored by stage.reward and compared with
its own group instead of a learned value baseline; a clipped ratio step, and a k3 KL penalty to the frozen SFT
reference weighted by stage.beta (beta 0: no reference is built or kept).

Per rollout: A_i = (s_i - mean(s_group)) / (std(s_group) + eps), one advantage per reply, the same on all its tokens.
Per step (stage.ppo_epochs passes over the rollout, fewer once KL(pi_old || pi) passes stage.kl_target):
  L = -sum_(i,t) [min(rho_it A_i, clip(rho_it, 1 - eps, 1 + eps) A_i) - beta k3_it],   rho_it = pi(y_it) / pi_old(y_it)
  k3_it = e^d - d - 1 with d = log ref(y_it) - log pi(y_it)
summed over reply tokens and divided by the step's reply tokens (count_units): token-level normalisation, so a long
reply weighs by its tokens. A group whose replies all score alike has A = 0 and teaches nothing: zero_std_share.
pi, pi_old and ref are all taken at stage.rollout_temperature tau (softmax(z / tau)), the distribution the rollout
sampled from, as in PPO: else the ratio and the KL would be those of another policy than the one that sampled.
"""

from __future__ import annotations

import torch

from engine.errors import UserError
from engine.train import losses
from engine.train import rollout as ro
from engine.train.rl_stage import RLStage, rollout_stats, split
from engine.train.stage import add_router_loss


class GRPOStage(RLStage):
    name = "grpo"

    def setup(self, ctx):
        self.needs_reference = ctx.cfg.stage.beta > 0
        super().setup(ctx)

    def check_batch(self, cfg):
        n, g = cfg.run.batch_size * cfg.run.grad_accum, cfg.stage.group_size
        if n % g:
            raise UserError(f"a GRPO step holds run.batch_size x run.grad_accum = {n} replies, which do not split "
                            f"into groups of stage.group_size {g}",
                            f"make run.batch_size x run.grad_accum a multiple of {g}", kind="config")

    @torch.no_grad()
    def rollout(self, index: int) -> list[dict]:
        cfg, s, rt = self.cfg, self.cfg.stage, self.ctx.rt
        n = cfg.run.batch_size * cfg.run.grad_accum
        picked = ro.pick_prompts(self.train_items, index, n // s.group_size, cfg.run.seed)
        prompts = [self.train_prompts[i] for i in picked for _ in range(s.group_size)]   # groups are consecutive
        replies = [r for chunk in self.sample_replies(prompts, index) for r in chunk]
        batch = self.rows(prompts, replies)
        old_logp, ref_logp = [], []
        for mb in split(batch, cfg.run.batch_size):  # the shapes the loss will see: log-probs match it exactly
            old_logp.append(ro.frozen_logprobs(self.trainer.model, mb, rt.autocast, s.rollout_temperature))
            if self.reference is not None:
                ref_logp.append(ro.frozen_logprobs(self.reference, mb, rt.autocast, s.rollout_temperature))
        scores = self.score(prompts, replies)
        advantages, zero_std_share = losses.group_advantages(scores, s.group_size)
        batch.update(old_logp=torch.cat(old_logp), advantages=advantages, zero_std_share=zero_std_share,
                     **rollout_stats(scores, batch["mask"]))
        if ref_logp:
            batch["ref_logp"] = torch.cat(ref_logp)
        return split(batch, cfg.run.batch_size)

    def loss(self, model, batch):
        s, mask = self.cfg.stage, batch["mask"]
        logits, logp, router = ro.policy_logprobs(model, batch, s.rollout_temperature)
        loss, clip_fraction, kl = losses.grpo_loss(logp, batch["old_logp"], batch.get("ref_logp"),
                                                   batch["advantages"], mask, s.clip_range, s.beta, n_tokens=1)
        self.approx_kl.append(losses.masked_mean(losses.k3_kl(batch["old_logp"], logp.detach()), mask))
        extras = {"reward_mean": batch["reward_mean"], "reward_std": batch["reward_std"],
                  "clip_fraction": clip_fraction,
                  "entropy": losses.masked_mean(losses.entropy_from_logits(logits.detach()), mask),
                  "response_length": batch["response_length"], "zero_std_share": batch["zero_std_share"]}
        if "ref_logp" in batch:  # with beta 0 there is no reference to measure a KL against
            extras["kl"] = kl
        loss, router_extras = add_router_loss(model, loss, router, self.count_units(batch))
        return loss, {**extras, **router_extras}
