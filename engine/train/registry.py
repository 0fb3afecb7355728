"""Builds a stage object by name: the stage table (engine/stages.py, torch-free) names each stage's class by module
path, and only here is that code imported."""

from __future__ import annotations

import importlib

from engine.stages import STAGES
from engine.train.stage import Stage


def stage_class(name: str) -> type[Stage]:
    module, _, cls = STAGES[name].module.partition(":")
    return getattr(importlib.import_module(module), cls)


def make_stage(name: str) -> Stage:
    return stage_class(name)()
