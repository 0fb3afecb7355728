"""The stages this engine offers, by name (the CLI, config validation and `doctor` read this)."""

from engine.train.pretrain import PretrainStage
from engine.train.sft import SFTStage
from engine.train.stage import Stage

STAGE_CLASSES: dict[str, type[Stage]] = {"pretrain": PretrainStage, "sft": SFTStage}


def make_stage(name: str) -> Stage:
    return STAGE_CLASSES[name]()
