"""The run config: one small dataclass per part, YAML load / merge / validate. No torch.

A run is one YAML document with the sections model, tokenizer, data, stage, optim, hardware, run, lora.
Presets (presets/models/*.yaml, presets/stages/*.yaml) are partial documents merged under the user's values:
dataclass defaults < model preset < stage preset < the user's document < --set overrides.
Every field carries a one-line help text (`help_for`) that the studio shows as a tooltip.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import math
import os
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from engine.config_base import ConfigError, _require, knob  # noqa: F401 - re-exported
from engine.config_data import DataConfig, TokenizerConfig
from engine.config_help_zh import help_zh, label_zh
from engine.config_limits import INT64_MAX, check_limits  # noqa: F401 - check_limits: for `train` and the wizard
from engine.config_lora import LORA_TARGETS, LoraConfig  # noqa: F401 - re-exported
from engine.config_model import ACTIVATIONS, GATED, ModelConfig, MoEConfig  # noqa: F401 - re-exported
from engine.config_stage import DPO_LOSS_TYPES, StageConfig, is_reward_path  # noqa: F401 - re-exported
from engine.config_train import (  # noqa: F401 - re-exported
    COMPILE_MODES,
    LEGACY_VALUES,
    OPTIMIZERS,
    SCHEDULES,
    HardwareConfig,
    OptimConfig,
    RunConfig,
)
from engine.errors import UserError
from engine.stages import STAGES as STAGE_INFO
from engine.stages import stage_help, stage_knobs  # noqa: F401 - stage_knobs: for the studio

PRESETS_DIR = Path(__file__).resolve().parent.parent / "presets"
SECTIONS = ("model", "tokenizer", "data", "stage", "optim", "hardware", "run", "lora")
STAGES = tuple(STAGE_INFO)  # names, from the one stage registry (engine/stages.py)


SECTION_TYPES: dict[str, type] = {
    "model": ModelConfig, "tokenizer": TokenizerConfig, "data": DataConfig, "stage": StageConfig,
    "optim": OptimConfig, "hardware": HardwareConfig, "run": RunConfig, "lora": LoraConfig,
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
    lora: LoraConfig = field(default_factory=LoraConfig)

    def __post_init__(self) -> None:
        self._check_global_batch()
        _require(not self.lora.rank or bool(self.stage.init), "lora.rank", "LoRA trains adapters on a base "
                 "checkpoint, and stage.init is not set", "set stage.init (--init) to the checkpoint to adapt")
        _require(not (self.optim.name == "sophia" and self.hardware.compile == "on"), "optim.name",
                 "sophia differentiates the gradient (a Hessian estimate), which torch.compile does not support",
                 "set hardware.compile=off (auto leaves sophia runs uncompiled), or choose another optimizer")
        if self.stage.init:  # the model's shape will come from the checkpoint; set-up checks seq_len against it
            return
        _require(self.data.seq_len <= self.model.max_seq_len, "data.seq_len",
                 f"{self.data.seq_len} exceeds model.max_seq_len {self.model.max_seq_len}",
                 "lower data.seq_len or raise model.max_seq_len")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def _check_global_batch(self) -> None:
        """run.global_batch_tokens must be whole sequences, and with a numeric batch size whole micro-batches."""
        run, t = self.run, self.data.seq_len
        if run.auto_batch:
            kind = STAGE_INFO[self.stage.name].kind if self.stage.name in STAGE_INFO else ""
            _require(kind != "rl_prompt", "run.batch_size", f"auto is not offered for the {self.stage.name} stage "
                     "(its batches are rollouts, sized by the rollout)", "give run.batch_size a number")
        g = run.global_batch_tokens
        if not g:
            return
        _require(g % t == 0, "run.global_batch_tokens", f"{g} is not a whole number of sequences of data.seq_len {t}",
                 f"use a multiple of {t}, e.g. {max(1, round(g / t)) * t}")
        if not run.auto_batch:
            b = int(run.batch_size)
            _require(g % (b * t) == 0, "run.global_batch_tokens",
                     f"{g} tokens are {g // t} sequences, which run.batch_size {b} does not divide",
                     f"use a multiple of batch x seq_len = {b * t}, e.g. {max(1, round(g / (b * t))) * b * t}, "
                     "or set run.batch_size: auto")
            self.run.grad_accum = g // (b * t)   # derived: any grad_accum given is replaced

    @property
    def tokens_per_step(self) -> int:
        """batch x accum x seq_len; run.global_batch_tokens when set (grad_accum is then derived from it)."""
        return self.run.global_batch_tokens or self.run.micro_batch * self.run.grad_accum * self.data.seq_len

    def with_batch(self, batch_size: int, grad_accum: int) -> Config:
        """This config with a decided micro-batch and accumulation (what run.yaml records once auto is resolved)."""
        return dataclasses.replace(self, run=dataclasses.replace(self.run, batch_size=batch_size,
                                                                 grad_accum=grad_accum))


def help_for() -> dict[str, dict[str, dict[str, Any]]]:
    """Every knob with its default and help text, per section, with its Chinese name and help ("label_zh",
    "help_zh"); the studio's tooltips come from here."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for section, cls in SECTION_TYPES.items():
        out[section] = _knobs(cls, section)
    return out


def _knobs(cls: type, path: str) -> dict[str, dict[str, Any]]:
    """A section's knobs; a nested section's entry (model.moe) holds its own under "knobs"."""
    out, inst = {}, cls()
    for f in fields(cls):
        key = f"{path}.{f.name}"
        out[f.name] = {"default": getattr(inst, f.name), "help": f.metadata.get("help", ""), "type": str(f.type),
                       "label_zh": label_zh(key), "help_zh": help_zh(key)}     # engine/config_help_zh.py
        nested = nested_section(cls, f.name)
        if nested is not None:
            out[f.name]["knobs"] = _knobs(nested, key)
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
    return copy.deepcopy(_read_preset(path, path.stat().st_mtime_ns))


@functools.lru_cache(maxsize=64)
def _read_preset(path: Path, mtime_ns: int) -> dict[str, Any]:
    """A preset's document, parsed once per version of the file (the wizard resolves presets on every edit)."""
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
    nested = len(parts) == 3 and parts[0] in SECTION_TYPES and nested_section(SECTION_TYPES[parts[0]], parts[1])
    if not (len(parts) == 2 or nested) or not all(parts):
        raise UserError(f"--set {text!r}: key must be SECTION.FIELD (or SECTION.PART.FIELD)",
                        "e.g. --set run.max_steps=200 or --set model.moe.top_k=2", kind="config")
    try:
        value = load_yaml_text(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if parts[0] == "data" and parts[1] in ("train", "val") and isinstance(value, str):
        value = [value] if value else []
    if len(parts) == 3:
        return {parts[0]: {parts[1]: {parts[2]: value}}}
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
    elif isinstance(reward, list):  # an ensemble of reward checkpoint folders
        doc["stage"]["reward"] = [fix(r) if isinstance(r, str) and is_reward_path(r) else r for r in reward]


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
    return _build(cls, section, values, source)


def _build(cls: type, path: str, values: dict[str, Any], source: str) -> Any:
    """A (possibly nested) config dataclass from a mapping; `path` names it in errors (model, model.moe)."""
    known = {f.name: f for f in fields(cls)}
    for key, value in values.items():
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=1)
            hint = f"did you mean {close[0]}?" if close else f"known keys: {', '.join(known)}"
            raise ConfigError(f"{path}.{key}", f"unknown key in {source}", hint)
        value = LEGACY_VALUES.get(f"{path}.{key}", {}).get(value, value) if isinstance(value, bool) else value
        nested = nested_section(cls, key)
        if nested is not None and value is not None:  # a sub-section such as model.moe
            if not isinstance(value, dict):
                raise ConfigError(f"{path}.{key}", f"must be a mapping of its keys, got {value!r}",
                                  f"keys: {', '.join(f.name for f in fields(nested))}")
            values = {**values, key: _build(nested, f"{path}.{key}", value, source)}
        else:
            values = {**values, key: _coerce(f"{path}.{key}", value, known[key])}
    return cls(**values)


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    """A section's field types, evaluated once: typing.get_type_hints re-evaluates every annotation of the class
    on each call, and the wizard validates its whole document on every edit (~14 s of CPU in one studio run)."""
    return typing.get_type_hints(cls)


def nested_section(cls: type, name: str) -> type | None:
    """The dataclass a field holds when it is a nested section (ModelConfig.moe -> MoEConfig), else None."""
    hint = _type_hints(cls).get(name)
    for t in typing.get_args(hint) or (hint,):
        if dataclasses.is_dataclass(t):
            return t
    return None


def _coerce(key: str, value: Any, f: dataclasses.Field) -> Any:
    """Check a YAML value against the field's declared type (ints are accepted as floats)."""
    t, raw = str(f.type), value
    if value is None:
        _require("None" in t, key, "may not be empty")
        return None
    if t == "int | str":  # a number or a word (run.batch_size: auto); the dataclass says which words
        value = _whole_number(value) if not (isinstance(value, str) and value.isalpha()) else value
        _require(isinstance(value, (int, str)) and not isinstance(value, bool), key,
                 f"expected a whole number or auto, got {value!r}")
        _require(not isinstance(value, int) or abs(value) <= INT64_MAX, key, _int64(raw), _INT64_WHY)
    elif t == "str | list[str]":  # one source, or a list of them (stage.reward: an ensemble of reward models)
        _require(isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)),
                 key, f"expected text or a list of texts, got {value!r}")
        value = value[0] if isinstance(value, list) and len(value) == 1 else value
    elif t.startswith("bool"):
        _require(isinstance(value, bool), key, f"expected true/false, got {value!r}")
    elif t.startswith("int"):
        value = _whole_number(value)
        _require(isinstance(value, int) and not isinstance(value, bool), key, f"expected a whole number, got {value!r}",
                 "write it in digits (2000) or as a whole power of ten (2e3)")
        _require(abs(value) <= INT64_MAX, key, _int64(raw), _INT64_WHY)
    elif t.startswith("float"):
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        _require(isinstance(value, (int, float)) and not isinstance(value, bool), key,
                 f"expected a number, got {value!r}")
        _require(math.isfinite(value), key, f"must be a finite number, got {value!r}",
                 "NaN and infinity make every loss and update NaN; write the number out, e.g. 1e-3")
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


_INT64_WHY = "steps, token counts and tensor sizes are 64-bit integers in torch and in checkpoints"


def _int64(raw: Any) -> str:
    """The refusal of a whole number past int64, showing it as the user wrote it (digits, or 1e30)."""
    return f"{raw} is beyond the 64-bit integer range (-{INT64_MAX:,} .. {INT64_MAX:,})"


def _whole_number(value: Any) -> Any:
    """'2e3' (YAML 1.1 reads it as text) or 2000.0 as the int 2000; anything else unchanged, for _coerce to judge."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
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
    try:
        return build_config(resolved, source)
    except ConfigError as exc:
        raise _blame_override(exc, source, overrides) from None


def _blame_override(exc: ConfigError, source: str, overrides: list[str]) -> ConfigError:
    """An unknown key that came from --set is named as that --set: the YAML file does not hold it."""
    given = [t for t in overrides if t.split("=", 1)[0].strip() == exc.key]
    if given and exc.message == f"{exc.key}: unknown key in {source}":
        return ConfigError(exc.key, f"unknown key in --set {given[-1]}", exc.hint)
    return exc


def default_workspace() -> Path:
    """Where runs, tokenizers and data live unless --workspace says otherwise: $MINIGPT_HOME, else the user data
    folder. Here (not in engine.workspace) so the studio, which may import only this module, uses the same rule."""
    env = os.environ.get("MINIGPT_HOME")
    if env:
        return Path(env).expanduser().resolve()
    import platformdirs
    return Path(platformdirs.user_data_dir("minigpt-studio", appauthor=False))
