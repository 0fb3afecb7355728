"""The `stage:` section: which training stage runs, and every stage's own knobs (DPO, PPO, GRPO ...).

The stage names come from the one stage registry, engine/stages.py.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from engine.config_base import _require, knob
from engine.stages import STAGES as STAGE_INFO
from engine.stages import stage_help

DPO_LOSS_TYPES = ("sigmoid", "ipo", "hinge", "simpo")  # as engine/train/losses.py LOSS_TYPES (torch-free here)
REWARD_COMBINES = ("mean", "min")  # as engine/train/reward_ensemble.py COMBINES


@dataclass(kw_only=True)
class StageConfig:
    name: str = knob("pretrain", f"Training stage: {stage_help()}.")
    init: str | None = knob(None, "Checkpoint folder to start from (a finished pretrain run for SFT).")
    # ---- preference optimisation (dpo; beta is also GRPO's KL coefficient)
    loss_type: str = knob("sigmoid", "DPO loss: sigmoid (DPO), ipo, hinge (SLiC) or simpo (reference-free, "
                          "length-normalised).")
    beta: float = knob(0.1, "DPO: how strongly the policy is held to the reference (reward = beta x log-ratio); "
                       "GRPO: the KL coefficient (0 keeps no reference).")
    label_smoothing: float = knob(0.0, "DPO (sigmoid, simpo): the assumed share of preference labels that are "
                                  "wrong, in [0, 0.5).")
    rpo_alpha: float = knob(0.0, "DPO: weight of the chosen reply's own NLL added to each pair's loss (RPO); keeps the "
                            "right answer likely while the margin grows. 0 = plain DPO.")
    rm_negatives: float = knob(0.0, "Reward model: weight of synthetic negatives, each chosen reply also ranked above "
                               "an empty reply and another prompt's reply, so PPO cannot win by saying nothing or "
                               "answering off-topic. 0 = the pairs only.")
    rm_center: float = knob(0.0, "Reward model: weight of a penalty on (r_chosen + r_rejected)^2 that keeps each "
                            "prompt's scores around 0, so a score rates the reply, not the prompt, and PPO's "
                            "advantages are not swamped by prompt offsets. 0 = off; the reward preset uses 0.1.")
    # ---- RL stages (ppo, grpo): rollouts of the live policy, scored by a reward
    reward: str | list[str] = knob("", "PPO/GRPO reward source: a rule (exact_match, numeric_match, format), the "
                                   "folder of a reward-model checkpoint, or a list of such folders (an ensemble, "
                                   "combined by stage.reward_combine).")
    reward_combine: str = knob("mean", "PPO/GRPO with a list of reward models: each one's scores are standardised, "
                               "then combined by their mean, or by their min (pessimistic: a reply must satisfy "
                               "every reward model).")
    group_size: int = knob(4, "GRPO (and PPO with stage.prompt_baseline): completions sampled per prompt; "
                          "advantages are normalised within each group.")
    ppo_epochs: int = knob(2, "PPO/GRPO: optimizer passes over each rollout batch before sampling the next.")
    kl_target: float = knob(0.0, "PPO/GRPO: end a rollout batch's passes early once the policy's KL from the "
                                 "rollout policy passes this (0 = never).")
    kl_coef: float = knob(0.05, "PPO: per-token KL penalty to the frozen reference, taken from the reward.")
    clip_range: float = knob(0.2, "PPO/GRPO: clip of the probability ratio (and of PPO's value change).")
    vf_coef: float = knob(0.5, "PPO: weight of the value-head loss beside the policy loss.")
    value_lr_ratio: float = knob(10.0, "PPO: the value head's learning rate as a multiple of optim.lr. The head "
                                 "starts from scratch while the policy is already trained: with the ppo preset at "
                                 "1x (3e-5) its loss stayed at 0.35-0.39 for 200 steps; at 10x it fell to 0.22-0.28.")
    gamma: float = knob(1.0, "PPO: discount per reply token in GAE.")
    lam: float = knob(0.95, "PPO: GAE lambda (bias-variance trade-off of the advantages).")
    whiten_rewards: bool = knob(False, "PPO: normalise each rollout batch's rewards to mean 0, std 1.")
    prompt_baseline: bool = knob(False, "PPO: sample stage.group_size replies per prompt and subtract each prompt's "
                                 "mean score, so a reward model's per-prompt offset does not drown the ranking of "
                                 "replies to one prompt.")
    rollout_tokens: int = knob(24, "PPO/GRPO: longest completion sampled per prompt, in tokens.")
    rollout_temperature: float = knob(1.0, "PPO/GRPO: sampling temperature of the rollouts.")
    tasks: list[str] = knob([], "PPO/GRPO: train only on prompts of these task families (the records' \"task\" "
                            "field), e.g. the ones the start model partly solves; empty = every prompt. Ignored, "
                            "with a warning, for prompts that name no family.")
    # ---- distillation: a student learns from a frozen teacher's softened next-token distribution
    teacher: str = knob("", "Distill: the teacher's checkpoint (or run) folder; it must use the student's tokenizer.")
    alpha: float = knob(0.5, "Distill: weight of the KL to the teacher; 1 - alpha weighs the hard-label "
                        "cross-entropy (0 = plain SFT, 1 = teacher only).")
    temperature: float = knob(2.0, "Distill: softens both distributions before the KL (logits / T); the KL is "
                              "scaled by T^2 so its gradients keep their size.")

    def __post_init__(self) -> None:
        _require(self.name in STAGE_INFO, "stage.name", f"unknown stage {self.name!r}",
                 f"use one of: {', '.join(STAGE_INFO)}")
        _require(bool(self.init) or not STAGE_INFO[self.name].needs_init, "stage.init",
                 f"the {self.name} stage starts from a checkpoint, and none is set",
                 "set stage.init (or --init) to a checkpoint folder or a finished run's folder")
        _require(self.loss_type in DPO_LOSS_TYPES, "stage.loss_type", f"unknown DPO loss {self.loss_type!r}",
                 f"use one of: {', '.join(DPO_LOSS_TYPES)}")
        _require(0.0 <= self.beta < float("inf"), "stage.beta", f"must be >= 0 and finite, got {self.beta}",
                 "typical DPO values: 0.05 .. 0.5")
        _require(self.beta > 0 or self.name != "dpo", "stage.beta", "must be positive for the dpo stage",
                 "typical values: 0.05 .. 0.5")
        _require(0.0 <= self.label_smoothing < 0.5, "stage.label_smoothing",
                 f"must be in [0, 0.5), got {self.label_smoothing}", "0 trusts every label; 0.1 allows some noise")
        _require(0.0 <= self.rpo_alpha < float("inf"), "stage.rpo_alpha", f"must be >= 0, got {self.rpo_alpha}",
                 "0 = plain DPO; 0.5 .. 1 adds the chosen reply's NLL")
        _require(0.0 <= self.rm_negatives < float("inf"), "stage.rm_negatives",
                 f"must be >= 0, got {self.rm_negatives}", "0 = off; 0.5 .. 1 weighs them like half or all a pair")
        _require(0.0 <= self.rm_center < float("inf"), "stage.rm_center", f"must be >= 0, got {self.rm_center}",
                 "0 = off; 0.01 .. 0.1 (the reward preset: 0.1)")
        self._check_rl()
        self._check_distill()

    def _check_rl(self) -> None:
        rewards = self.reward if isinstance(self.reward, list) else [self.reward]
        for i, entry in enumerate(rewards if len(rewards) > 1 else []):
            _require(bool(entry.strip()), f"stage.reward[{i}]", "is empty",
                     "a list of rewards holds reward-model checkpoint folders")
        _require(self.reward_combine in REWARD_COMBINES, "stage.reward_combine",
                 f"unknown combination {self.reward_combine!r}", f"use one of: {', '.join(REWARD_COMBINES)}")
        if self.name in ("ppo", "grpo"):
            _require(any(r.strip() for r in rewards), "stage.reward", f"the {self.name} stage needs a reward source, "
                     "and none is set", "set stage.reward to a rule (exact_match, numeric_match, format) or to a "
                     "reward-model checkpoint folder")
        _require(self.group_size >= 2, "stage.group_size", f"must be >= 2, got {self.group_size}",
                 "GRPO compares completions of one prompt with each other")
        _require(self.ppo_epochs >= 1, "stage.ppo_epochs", f"must be >= 1, got {self.ppo_epochs}")
        for key in ("kl_target", "beta", "kl_coef", "vf_coef"):
            _require(getattr(self, key) >= 0, f"stage.{key}", f"must be >= 0, got {getattr(self, key)}")
        _require(0 < self.value_lr_ratio <= 1000, "stage.value_lr_ratio",
                 f"must be in (0, 1000], got {self.value_lr_ratio}", "typical: 1 .. 30")
        _require(0 < self.clip_range < 1, "stage.clip_range", f"must be in (0, 1), got {self.clip_range}",
                 "typical: 0.2")
        for key in ("gamma", "lam"):
            _require(0 <= getattr(self, key) <= 1, f"stage.{key}", f"must be in [0, 1], got {getattr(self, key)}")
        _require(self.rollout_tokens >= 1, "stage.rollout_tokens", f"must be >= 1, got {self.rollout_tokens}")
        _require(all(isinstance(t, str) and t for t in self.tasks), "stage.tasks",
                 f"must be a list of task family names, got {self.tasks!r}", "e.g. [count_letter, unit]")
        _require(self.rollout_temperature > 0, "stage.rollout_temperature",
                 f"must be > 0, got {self.rollout_temperature}", "rollouts must sample; typical: 1.0")


    def _check_distill(self) -> None:
        _require(bool(self.teacher.strip()) or self.name != "distill", "stage.teacher",
                 "the distill stage learns from a teacher checkpoint, and none is set",
                 "set stage.teacher to the folder of a trained run (or checkpoints/step-NNNNNN) that uses the same "
                 "tokenizer")
        _require(0.0 <= self.alpha <= 1.0, "stage.alpha", f"must be in [0, 1], got {self.alpha}",
                 "0.5 mixes the teacher's KL and the hard labels equally")
        _require(0.0 < self.temperature < float("inf"), "stage.temperature", f"must be > 0, got {self.temperature}",
                 "typical: 1 .. 4")


def is_reward_path(value: str) -> bool:
    """stage.reward names a checkpoint folder (not a rule) when it looks like a path."""
    return any(c in value for c in ("/", "\\", os.sep)) or value.startswith(("~", "."))
