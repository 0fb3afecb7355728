"""The training stages this engine offers: one entry per stage, the single source of truth for its name, the record
kind it reads, its built-in train/val files, its preset, whether it must start from a checkpoint, and its help line.

No torch: the config, the data sources, the CLI, `doctor` and the studio's Stage page all read this table. The stage's
code is named by `module` ("package.module:Class") and imported only by engine/train/registry.py. Adding a stage is
one entry here plus one file under engine/train/ (and its preset under presets/stages/).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class StageInfo:
    name: str
    kind: str                       # record kind its data files hold (engine/data/records.py KINDS)
    builtin: tuple[str, str]        # stems of the built-in dataset's train and held-out files
    preset: str                     # presets/stages/<preset>.yaml, merged under the user's document
    needs_init: bool                # stage.init (a checkpoint to start from) is required
    help: str                       # one line for --help, tooltips and doctor
    module: str                     # "engine.train.<file>:<Class>", imported when a run starts
    knobs: tuple[str, ...] | None = None  # the stage.* keys it reads beyond name/init (None: not declared; the
                                          # studio then shows every stage.* key no other stage claims)


STAGES: dict[str, StageInfo] = {s.name: s for s in (
    StageInfo(name="pretrain", kind="pretrain", builtin=("pretrain_train", "pretrain_val"), preset="pretrain",
              needs_init=False, help="next-token prediction on plain text",
              module="engine.train.pretrain:PretrainStage", knobs=()),
    StageInfo(name="sft", kind="sft", builtin=("sft_train", "sft_val"), preset="sft", needs_init=False,
              help="chat fine-tuning, loss on the assistant's replies only (usually from a pretrain checkpoint)",
              module="engine.train.sft:SFTStage", knobs=()),
    StageInfo(name="dpo", kind="preference", builtin=("preference_train", "preference_val"), preset="dpo",
              needs_init=True, help="direct preference optimisation on chosen/rejected pairs, from an SFT checkpoint",
              module="engine.train.dpo:DPOStage", knobs=("loss_type", "beta", "label_smoothing", "rpo_alpha")),
    StageInfo(name="reward", kind="preference", builtin=("reward_train", "preference_val"), preset="reward",
              needs_init=True, help="reward model: a scalar head trained on preference pairs, from an SFT checkpoint",
              module="engine.train.reward:RewardStage", knobs=("rm_negatives", "rm_center")),
    StageInfo(name="ppo", kind="rl_prompt", builtin=("rl_prompt_train", "rl_prompt_val"), preset="ppo",
              needs_init=True, help="RLHF with PPO: sampled replies scored by stage.reward, a value head, GAE and a "
              "KL penalty to the SFT reference (from an SFT checkpoint)",
              module="engine.train.ppo:PPOStage",
              knobs=("ppo_epochs", "kl_target", "kl_coef", "clip_range", "vf_coef", "value_lr_ratio", "gamma", "lam",
                     "whiten_rewards", "rollout_tokens", "rollout_temperature", "tasks")),
    StageInfo(name="grpo", kind="rl_prompt", builtin=("rl_prompt_train", "rl_prompt_val"), preset="grpo",
              needs_init=True, help="RL with GRPO: groups of sampled replies per prompt, scored by stage.reward and "
              "compared within the group (from an SFT checkpoint)",
              module="engine.train.grpo:GRPOStage",
              knobs=("group_size", "ppo_epochs", "kl_target", "beta", "clip_range", "rollout_tokens",
                     "rollout_temperature", "tasks")),
    StageInfo(name="distill", kind="sft", builtin=("sft_train", "sft_val"), preset="distill", needs_init=False,
              help="knowledge distillation: a student learns chat replies from a frozen teacher checkpoint's "
              "softened predictions (stage.teacher) mixed with the hard labels",
              module="engine.train.distill:DistillStage", knobs=("teacher", "alpha", "temperature")),
)}


def stage_names() -> tuple[str, ...]:
    return tuple(STAGES)


def stage_help() -> str:
    """'pretrain (next-token ...), sft (...)': the stage.name knob's help and the CLI's."""
    return "; ".join(f"{s.name} ({s.help})" for s in STAGES.values())


def stage_knobs(name: str) -> tuple[str, ...]:
    """The stage.* keys (beyond name and init) a stage reads; for a stage that does not declare them, every stage.*
    key of the config that no other stage claims (engine.config is torch-free, so this stays cheap)."""
    from engine.config import StageConfig
    info = STAGES.get(name)
    if info is not None and info.knobs is not None:
        return info.knobs
    claimed = {k for s in STAGES.values() for k in (s.knobs or ())}
    return tuple(f.name for f in dataclasses.fields(StageConfig) if f.name not in ("name", "init", *claimed))


def describe() -> list[dict]:
    """The table as plain dicts (doctor --json, the studio)."""
    return [{"name": s.name, "kind": s.kind, "builtin": list(s.builtin), "preset": s.preset,
             "needs_init": s.needs_init, "help": s.help, "knobs": None if s.knobs is None else list(s.knobs)}
            for s in STAGES.values()]
