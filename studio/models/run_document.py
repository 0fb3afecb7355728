"""RunDocument: the run YAML the wizard is building, validated with engine.config exactly as `minigpt train` would.

Pages write their values into it; it merges presets under them, builds the engine's Config, names the key of
the first problem, and computes the live estimate (engine.estimate). No widgets, no torch.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import yaml
from PySide6.QtCore import QObject, Signal

from engine.config import (
    Config,
    ConfigError,
    UserError,
    build_config,
    check_limits,
    deep_merge,
    help_for,
    resolve_document,
)
from engine.estimate import run_estimate


@dataclass
class Check:
    config: Config | None
    key: str = ""          # the config key at fault ("model.n_head"), or "" when not tied to one key
    message: str = ""
    hint: str = ""

    @property
    def ok(self) -> bool:
        return self.config is not None


def check_document(doc: dict[str, Any]) -> Check:
    """Merge presets under `doc` and validate it; never raises."""
    try:
        cfg = build_config(resolve_document(copy.deepcopy(doc)), "the wizard")
        check_limits(cfg)   # as `minigpt train` refuses it: this machine's memory, a run that never ends
    except ConfigError as e:
        return Check(None, e.key, e.message, e.hint)
    except UserError as e:
        return Check(None, "", e.message, e.hint)
    except (TypeError, ValueError) as e:
        return Check(None, "", str(e))
    return Check(cfg)


def parse_yaml_document(text: str) -> tuple[dict | None, str]:
    """(document, "") or (None, reason) for YAML typed by the user on the Review page."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        return None, f"invalid YAML: {where}{getattr(e, 'problem', None) or e}"
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        return None, "the top level must be a mapping of sections (model, data, stage, optim, hardware, run, ...)"
    return doc, ""


class RunDocument(QObject):
    changed = Signal()

    def __init__(self, knobs: dict | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.knobs = knobs or help_for()
        self.doc: dict[str, Any] = {"model": {"preset": "tiny"}, "data": {"train": ["builtin"]},
                                    "stage": {"name": "pretrain"}}
        self.data_kinds: dict[str, str] = {}   # data file -> detected kind (pretrain / sft / preference / rl)

    def get(self, key: str, default: Any = None) -> Any:
        section, name = key.split(".", 1)
        return (self.doc.get(section) or {}).get(name, default)

    def set(self, key: str, value: Any) -> None:
        section, name = key.split(".", 1)
        if self.get(key, object()) == value:
            return
        self.doc.setdefault(section, {})[name] = value
        self.changed.emit()

    def update(self, partial: dict[str, Any]) -> None:
        merged = deep_merge(self.doc, partial)
        if merged != self.doc:
            self.doc = merged
            self.changed.emit()

    def replace(self, doc: dict[str, Any]) -> None:
        self.doc = copy.deepcopy(doc)
        self.changed.emit()

    def resolved(self) -> dict[str, Any]:
        try:
            return resolve_document(copy.deepcopy(self.doc))
        except UserError:
            return copy.deepcopy(self.doc)

    def check(self) -> Check:
        return check_document(self.doc)

    def yaml_text(self) -> str:
        """The full YAML of the run (every key explicit) when it is valid, else the document as it stands."""
        result = self.check()
        if result.config is not None:
            return result.config.to_yaml()
        return yaml.safe_dump(self.resolved(), sort_keys=False, allow_unicode=True)

    def estimate(self) -> dict | None:
        result = self.check()
        if result.config is None:
            return None
        cfg = result.config
        precision = cfg.hardware.precision if cfg.hardware.precision != "auto" else "fp32"
        return run_estimate(cfg, cfg.model.vocab_size or cfg.tokenizer.vocab_size, precision)
