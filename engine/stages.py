"""The training stages this engine offers: one entry per stage, the single source of truth for its name, the record
kind it reads, its built-in train/val files, its preset, whether it must start from a checkpoint, and its help line.

No torch: the config, the data sources, the CLI, `doctor` and the studio's Stage page all read this table. The stage's
code is named by `module` ("package.module:Class") and imported only by engine/train/registry.py. Adding a stage is
one entry here plus one file under engine/train/ (and its preset under presets/stages/).
"""

from __future__ import annotations

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


STAGES: dict[str, StageInfo] = {s.name: s for s in (
    StageInfo(name="pretrain", kind="pretrain", builtin=("pretrain_train", "pretrain_val"), preset="pretrain",
              needs_init=False, help="next-token prediction on plain text",
              module="engine.train.pretrain:PretrainStage"),
    StageInfo(name="sft", kind="sft", builtin=("sft_train", "sft_val"), preset="sft", needs_init=False,
              help="chat fine-tuning, loss on the assistant's replies only (usually from a pretrain checkpoint)",
              module="engine.train.sft:SFTStage"),
    StageInfo(name="ppo", kind="rl_prompt", builtin=("rl_prompt_train", "rl_prompt_val"), preset="ppo",
              needs_init=True, help="RLHF with PPO: sampled replies scored by stage.reward, a value head, GAE and a "
              "KL penalty to the SFT reference (from an SFT checkpoint)",
              module="engine.train.ppo:PPOStage"),
    StageInfo(name="grpo", kind="rl_prompt", builtin=("rl_prompt_train", "rl_prompt_val"), preset="grpo",
              needs_init=True, help="RL with GRPO: groups of sampled replies per prompt, scored by stage.reward and "
              "compared within the group (from an SFT checkpoint)",
              module="engine.train.grpo:GRPOStage"),
)}


def stage_names() -> tuple[str, ...]:
    return tuple(STAGES)


def stage_help() -> str:
    """'pretrain (next-token ...), sft (...)': the stage.name knob's help and the CLI's."""
    return "; ".join(f"{s.name} ({s.help})" for s in STAGES.values())


def describe() -> list[dict]:
    """The table as plain dicts (doctor --json, the studio)."""
    return [{"name": s.name, "kind": s.kind, "builtin": list(s.builtin), "preset": s.preset,
             "needs_init": s.needs_init, "help": s.help} for s in STAGES.values()]
