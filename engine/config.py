"""The run config: one small dataclass per part, YAML load / merge / validate. No torch.

A run is one YAML document with the sections model, tokenizer, data, stage, optim, hardware, run.
Presets (presets/models/*.yaml, presets/stages/*.yaml) are partial documents merged under the user's values:
dataclass defaults < model preset < stage preset < the user's document < --set overrides.
Every field carries a one-line help text (`help_for`) that the studio shows as a tooltip.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from engine.config_base import ConfigError, _require, knob  # noqa: F401 - re-exported
from engine.config_data import DataConfig, TokenizerConfig
from engine.config_help_zh import help_zh, label_zh
from engine.config_model import ModelConfig
from engine.config_stage import DPO_LOSS_TYPES, StageConfig, is_reward_path  # noqa: F401 - re-exported
from engine.config_train import HardwareConfig, OptimConfig, RunConfig
from engine.errors import UserError
from engine.stages import STAGES as STAGE_INFO
from engine.stages import stage_help, stage_knobs  # noqa: F401 - stage_knobs: for the studio

PRESETS_DIR = Path(__file__).resolve().parent.parent / "presets"
SECTIONS = ("model", "tokenizer", "data", "stage", "optim", "hardware", "run")
STAGES = tuple(STAGE_INFO)  # names, from the one stage registry (engine/stages.py)


SECTION_TYPES: dict[str, type] = {
    "model": ModelConfig, "tokenizer": TokenizerConfig, "data": DataConfig, "stage": StageConfig,
    "optim": OptimConfig, "hardware": HardwareConfig, "run": RunConfig,
}


@dataclass(kw_only=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    data: DataConfig = field(default_factory=DataConfig)
    stage: StageConfig = field(default_factory=StageConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        if self.stage.init:  # the model's shape will come from the checkpoint; set-up checks seq_len against it
            return
        _require(self.data.seq_len <= self.model.max_seq_len, "data.seq_len",
                 f"{self.data.seq_len} exceeds model.max_seq_len {self.model.max_seq_len}",
                 "lower data.seq_len or raise model.max_seq_len")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    @property
    def tokens_per_step(self) -> int:
        return self.run.batch_size * self.run.grad_accum * self.data.seq_len


def help_for() -> dict[str, dict[str, dict[str, Any]]]:
    """Every knob with its default and help text, per section, with its Chinese name and help ("label_zh",
    "help_zh"); the studio's tooltips come from here."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for section, cls in SECTION_TYPES.items():
        inst = cls()
        out[section] = {f.name: {"default": getattr(inst, f.name), "help": f.metadata.get("help", ""),
                                 "label_zh": label_zh(f"{section}.{f.name}"),     # engine/config_help_zh.py
                                 "help_zh": help_zh(f"{section}.{f.name}")}
                        for f in fields(cls)}
    return out


# ---------------------------------------------------------------- loading and merging

def list_presets(kind: str) -> list[str]:
    """Names of presets/<kind>/*.yaml ("models" or "stages")."""
    return sorted(p.stem for p in (PRESETS_DIR / kind).glob("*.yaml"))


class NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases (*name). A run config never needs them, and a few hundred bytes of nested
    aliases expand into billions of values once the document is walked ("billion laughs")."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError(None, None, f"alias *{event.anchor} is not supported in a run config",
                                       event.start_mark)
        return super().compose_node(parent, index)


def load_yaml_text(text: str) -> Any:
    """YAML text to Python values, without aliases (see NoAliasLoader)."""
    return yaml.load(text, Loader=NoAliasLoader)  # noqa: S506 - a SafeLoader subclass


def read_yaml(path: Path, what: str = "config") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: {what} file not found", "check the path", kind="config")
    try:
        doc = load_yaml_text(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text", "save the YAML file as UTF-8", kind="config") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        hint = ("write the value out instead of an anchor (&name) and alias (*name)" if "alias" in problem
                else "check indentation and quoting")
        raise UserError(f"{path}{where}: invalid YAML: {problem}", hint, kind="config") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise UserError(f"{path}: the top level must be a mapping of sections", f"sections: {', '.join(SECTIONS)}",
                        kind="config")
    return doc


def load_preset(kind: str, name: str) -> dict[str, Any]:
    path = PRESETS_DIR / kind / f"{name}.yaml"
    if not path.is_file():
        key = "model.preset" if kind == "models" else "stage.name"
        raise ConfigError(key, f"no preset {name!r}", f"available: {', '.join(list_presets(kind))}")
    return read_yaml(path, "preset")


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """A new dict: `over` wins; nested mappings merge, lists and scalars replace."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def parse_override(text: str) -> dict[str, Any]:
    """'run.max_steps=200' -> {'run': {'max_steps': 200}}. The value is read as YAML (numbers, bools, lists);
    YAML reads '1e-3' as text, and the field's declared type turns it into a number later."""
    if "=" not in text:
        raise UserError(f"--set {text!r}: expected KEY=VALUE", "e.g. --set optim.lr=1e-3", kind="config")
    key, raw = text.split("=", 1)
    parts = key.strip().split(".")
    if len(parts) != 2 or not all(parts):
        raise UserError(f"--set {text!r}: key must be SECTION.FIELD", "e.g. --set run.max_steps=200", kind="config")
    try:
        value = load_yaml_text(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if parts[0] == "data" and parts[1] in ("train", "val") and isinstance(value, str):
        value = [value] if value else []
    return {parts[0]: {parts[1]: value}}


def _resolve_paths(doc: dict[str, Any], base_dir: Path) -> None:
    """Paths in a YAML file are relative to that file, not to the current directory."""
    def fix(p: Any) -> Any:
        if isinstance(p, str) and p and p != "builtin" and not os.path.isabs(os.path.expanduser(p)):
            return str((base_dir / p).resolve())
        return os.path.expanduser(p) if isinstance(p, str) else p

    data = doc.get("data")
    if isinstance(data, dict):
        for key in ("train", "val"):
            if isinstance(data.get(key), list):
                data[key] = [fix(p) for p in data[key]]
            elif isinstance(data.get(key), str):
                data[key] = [fix(data[key])]
    for section, key in (("tokenizer", "path"), ("stage", "init")):
        if isinstance(doc.get(section), dict) and doc[section].get(key):
            doc[section][key] = fix(doc[section][key])
    reward = doc["stage"].get("reward") if isinstance(doc.get("stage"), dict) else None
    if isinstance(reward, str) and is_reward_path(reward):  # a reward checkpoint folder, not a rule's name
        doc["stage"]["reward"] = fix(reward)


def build_config(doc: dict[str, Any], source: str = "config") -> Config:
    """Dataclasses from a merged document; unknown keys and wrong types are named with their key path."""
    unknown = [k for k in doc if k not in SECTIONS]
    if unknown:
        raise ConfigError(unknown[0], f"unknown section in {source}", f"sections are: {', '.join(SECTIONS)}")
    parts = {section: build_section(section, doc.get(section) or {}, source) for section in SECTION_TYPES}
    return Config(**parts)


def build_section(section: str, values: Any, source: str = "config") -> Any:
    """One section's dataclass from a mapping, with unknown keys and wrong types named by key path."""
    cls = SECTION_TYPES[section]
    if not isinstance(values, dict):
        raise ConfigError(section, f"must be a mapping, got {type(values).__name__}")
    known = {f.name: f for f in fields(cls)}
    for key, value in values.items():
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=1)
            hint = f"did you mean {close[0]}?" if close else f"known keys: {', '.join(known)}"
            raise ConfigError(f"{section}.{key}", f"unknown key in {source}", hint)
        values = {**values, key: _coerce(f"{section}.{key}", value, known[key])}
    return cls(**values)


def _coerce(key: str, value: Any, f: dataclasses.Field) -> Any:
    """Check a YAML value against the field's declared type (ints are accepted as floats)."""
    t = str(f.type)
    if value is None:
        _require("None" in t, key, "may not be empty")
        return None
    if t.startswith("bool"):
        _require(isinstance(value, bool), key, f"expected true/false, got {value!r}")
    elif t.startswith("int"):
        _require(isinstance(value, int) and not isinstance(value, bool), key, f"expected a whole number, got {value!r}")
    elif t.startswith("float"):
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        _require(isinstance(value, (int, float)) and not isinstance(value, bool), key,
                 f"expected a number, got {value!r}")
        value = float(value)
    elif t.startswith("list"):
        if isinstance(value, str):
            value = [value]
        _require(isinstance(value, list) and all(isinstance(v, str) for v in value), key,
                 f"expected a list of strings, got {value!r}")
    elif t.startswith("str"):
        _require(isinstance(value, (str, int, float)) and not isinstance(value, bool), key,
                 f"expected text, got {value!r}")
        value = str(value)
    return value


def resolve_document(user_doc: dict[str, Any], overrides: list[str] = ()) -> dict[str, Any]:
    """Merge presets under the user's document and the --set overrides on top."""
    over: dict[str, Any] = {}
    for text in overrides:
        over = deep_merge(over, parse_override(text))
    top = deep_merge(user_doc, over)
    model_preset = (top.get("model") or {}).get("preset") if isinstance(top.get("model"), dict) else None
    stage_name = (top.get("stage") or {}).get("name", "pretrain") if isinstance(top.get("stage"), dict) else "pretrain"
    merged: dict[str, Any] = {}
    if model_preset:
        merged = deep_merge(merged, load_preset("models", str(model_preset)))
    info = STAGE_INFO.get(stage_name) if isinstance(stage_name, str) else None
    if info is not None and (PRESETS_DIR / "stages" / f"{info.preset}.yaml").is_file():
        merged = deep_merge(merged, load_preset("stages", info.preset))
    return deep_merge(merged, top)


def load_config(path: str | os.PathLike | None = None, overrides: list[str] = (),
                extra: dict[str, Any] | None = None) -> Config:
    """The resolved config of a run: YAML file (optional) + CLI-built `extra` + --set overrides, over presets."""
    doc: dict[str, Any] = {}
    source = "config"
    if path is not None:
        doc = read_yaml(Path(path))
        _resolve_paths(doc, Path(path).resolve().parent)
        source = str(path)
    if extra:
        doc = deep_merge(doc, extra)
    resolved = resolve_document(doc, overrides)
    _resolve_paths(resolved, Path.cwd())
    return build_config(resolved, source)


def default_workspace() -> Path:
    """Where runs, tokenizers and data live unless --workspace says otherwise: $MINIGPT_HOME, else the user data
    folder. Here (not in engine.workspace) so the studio, which may import only this module, uses the same rule."""
    env = os.environ.get("MINIGPT_HOME")
    if env:
        return Path(env).expanduser().resolve()
    import platformdirs
    return Path(platformdirs.user_data_dir("minigpt-studio", appauthor=False))
