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

from engine.data.encoding import encoding_problem
from engine.errors import UserError
from engine.stages import STAGES as STAGE_INFO
from engine.stages import stage_help, stage_knobs  # noqa: F401 - stage_knobs: for the studio

PRESETS_DIR = Path(__file__).resolve().parent.parent / "presets"
SECTIONS = ("model", "tokenizer", "data", "stage", "optim", "hardware", "run")
STAGES = tuple(STAGE_INFO)  # names, from the one stage registry (engine/stages.py)
DPO_LOSS_TYPES = ("sigmoid", "ipo", "hinge", "simpo")  # as engine/train/losses.py LOSS_TYPES (torch-free here)


def knob(default: Any, help: str, **kw: Any) -> Any:
    """A config field with its help text (shown in `minigpt doctor --json` and as studio tooltips)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata={"help": help}, **kw)
    return field(default=default, metadata={"help": help}, **kw)


class ConfigError(UserError):
    def __init__(self, key: str, message: str, hint: str = ""):
        super().__init__(f"{key}: {message}", hint, kind="config")
        self.key = key


def _require(ok: bool, key: str, message: str, hint: str = "") -> None:
    if not ok:
        raise ConfigError(key, message, hint)


@dataclass(kw_only=True)
class ModelConfig:
    preset: str | None = knob(None, "Model preset this shape came from (presets/models/<name>.yaml).")
    vocab_size: int = knob(0, "Vocabulary size; 0 takes it from the tokenizer.")
    d_model: int = knob(128, "Width of the residual stream (embedding size).")
    n_layer: int = knob(4, "Number of transformer blocks.")
    n_head: int = knob(4, "Attention heads; must divide d_model.")
    n_kv_head: int = knob(2, "Key/value heads for grouped-query attention; must divide n_head (= n_head: plain MHA).")
    d_ff: int = knob(0, "Hidden size of the MLP; 0 picks 8/3 x d_model (gated) or 4 x d_model (gelu), rounded to 32.")
    max_seq_len: int = knob(256, "Longest sequence the model is built for (RoPE tables and KV cache).")
    rope_theta: float = knob(10000.0, "RoPE base frequency; larger values suit longer contexts.")
    activation: str = knob("swiglu", "MLP type: swiglu (Llama), geglu, or gelu (GPT-2 style, not gated).")
    qk_norm: bool = knob(False, "RMS-normalise queries and keys per head before attention (steadier at high lr).")
    tie_embeddings: bool = knob(True, "Share the token embedding with the output head (saves vocab x d_model params).")
    norm_eps: float = knob(1e-5, "Epsilon inside RMSNorm.")
    dropout: float = knob(0.0, "Dropout on attention and residual outputs; 0 is best for small data-rich runs.")
    init_std: float = knob(0.02, "Std of the normal init; residual projections are scaled by 1/sqrt(2 n_layer).")

    def __post_init__(self) -> None:
        for name in ("d_model", "n_layer", "n_head", "n_kv_head", "max_seq_len"):
            _require(getattr(self, name) > 0, f"model.{name}", f"must be positive, got {getattr(self, name)}")
        _require(self.vocab_size >= 0, "model.vocab_size", "must be >= 0 (0 = from the tokenizer)")
        _require(self.d_ff >= 0, "model.d_ff", "must be >= 0 (0 = automatic)")
        _require(self.d_model % self.n_head == 0, "model.n_head",
                 f"{self.n_head} heads do not divide d_model {self.d_model}",
                 "pick n_head so d_model / n_head is whole")
        _require(self.n_head % self.n_kv_head == 0, "model.n_kv_head",
                 f"{self.n_kv_head} kv heads do not divide n_head {self.n_head}",
                 "use a divisor of n_head, e.g. 1 or 2")
        _require((self.d_model // self.n_head) % 2 == 0, "model.n_head",
                 f"head size {self.d_model // self.n_head} is odd; RoPE needs an even head size")
        _require(self.activation in ("swiglu", "geglu", "gelu"), "model.activation",
                 f"unknown activation {self.activation!r}", "use swiglu, geglu or gelu")
        _require(self.rope_theta > 0, "model.rope_theta", "must be positive")
        _require(0.0 <= self.dropout < 1.0, "model.dropout", "must be in [0, 1)")
        _require(self.init_std > 0, "model.init_std", "must be positive")
        _require(0 < self.norm_eps < 1, "model.norm_eps", "must be in (0, 1), e.g. 1e-5")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def ffn_dim(self) -> int:
        if self.d_ff:
            return self.d_ff
        hidden = 4 * self.d_model if self.activation == "gelu" else int(8 * self.d_model / 3)
        return (hidden + 31) // 32 * 32


@dataclass(kw_only=True)
class TokenizerConfig:
    path: str | None = knob(None, "A tokenizer.json (or its folder); empty trains one on the data and caches it.")
    vocab_size: int = knob(4096, "Vocabulary size when a tokenizer is trained.")
    sample_bytes: int = knob(20_000_000, "At most this many bytes of each data file are read to train the tokenizer.")
    min_frequency: int = knob(2, "A pair must occur this often to be merged when training.")

    def __post_init__(self) -> None:
        _require(self.vocab_size >= 300, "tokenizer.vocab_size",
                 f"{self.vocab_size} is too small", "byte-level BPE needs 256 bytes + specials; use >= 300")
        _require(self.vocab_size <= 1 << 20, "tokenizer.vocab_size", "is unreasonably large (max 1048576)")
        _require(self.sample_bytes > 0, "tokenizer.sample_bytes", "must be positive")
        _require(self.min_frequency >= 1, "tokenizer.min_frequency", "must be >= 1")


@dataclass(kw_only=True)
class DataConfig:
    train: list[str] = knob(["builtin"], "Training files (.jsonl or .txt), or 'builtin' for the built-in dataset.")
    val: list[str] = knob([], "Validation files; empty uses the built-in held-out split or val_fraction of train.")
    val_fraction: float = knob(0.02, "Share of the training records held out for validation when no val file is given.")
    seq_len: int = knob(256, "Tokens per training sequence (at most model.max_seq_len).")
    packing: bool = knob(True, "Pack several documents / conversations into each sequence (no padding waste).")
    max_bad_fraction: float = knob(0.05, "Stop before training if more than this share of a file's lines are bad.")
    seed: int = knob(0, "Seed of the built-in dataset generator.")
    encoding: str = knob("utf-8", "Text encoding of your data files: utf-8, auto (guess each file's), or a Python "
                         "codec name such as gb18030 or cp1252. The built-in dataset is always UTF-8.")
    control_tokens: bool = knob(False, "Read <|im_start|>, <|im_end|> and <|endoftext|> written in pretrain text as "
                                "control tokens (minimind's pretrain_hq.jsonl packs ChatML turns into its text); off, "
                                "they are plain characters. Chat content is always plain text; the built-in "
                                "corpus always opts in.")

    def __post_init__(self) -> None:
        problem = encoding_problem(self.encoding)
        _require(problem is None, "data.encoding", *(problem or ("",)))
        _require(isinstance(self.train, list) and len(self.train) > 0, "data.train",
                 "needs at least one file or 'builtin'")
        _require(self.seq_len >= 8, "data.seq_len", f"must be >= 8, got {self.seq_len}")
        _require(0.0 <= self.val_fraction < 0.5, "data.val_fraction", "must be in [0, 0.5)")
        _require(0.0 <= self.max_bad_fraction <= 1.0, "data.max_bad_fraction", "must be in [0, 1]")


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
    # ---- RL stages (ppo, grpo): rollouts of the live policy, scored by a reward
    reward: str = knob("", "PPO/GRPO reward source: a rule (exact_match, numeric_match, format) or the folder of a "
                           "reward-model checkpoint.")
    group_size: int = knob(4, "GRPO: completions sampled per prompt; advantages are normalised within each group.")
    ppo_epochs: int = knob(2, "PPO/GRPO: optimizer passes over each rollout batch before sampling the next.")
    kl_target: float = knob(0.0, "PPO/GRPO: end a rollout batch's passes early once the policy's KL from the "
                                 "rollout policy passes this (0 = never).")
    kl_coef: float = knob(0.05, "PPO: per-token KL penalty to the frozen reference, taken from the reward.")
    clip_range: float = knob(0.2, "PPO/GRPO: clip of the probability ratio (and of PPO's value change).")
    vf_coef: float = knob(0.5, "PPO: weight of the value-head loss beside the policy loss.")
    gamma: float = knob(1.0, "PPO: discount per reply token in GAE.")
    lam: float = knob(0.95, "PPO: GAE lambda (bias-variance trade-off of the advantages).")
    whiten_rewards: bool = knob(False, "PPO: normalise each rollout batch's rewards to mean 0, std 1.")
    rollout_tokens: int = knob(24, "PPO/GRPO: longest completion sampled per prompt, in tokens.")
    rollout_temperature: float = knob(1.0, "PPO/GRPO: sampling temperature of the rollouts.")

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
        self._check_rl()

    def _check_rl(self) -> None:
        if self.name in ("ppo", "grpo"):
            _require(bool(self.reward.strip()), "stage.reward", f"the {self.name} stage needs a reward source, "
                     "and none is set", "set stage.reward to a rule (exact_match, numeric_match, format) or to a "
                     "reward-model checkpoint folder")
        _require(self.group_size >= 2, "stage.group_size", f"must be >= 2, got {self.group_size}",
                 "GRPO compares completions of one prompt with each other")
        _require(self.ppo_epochs >= 1, "stage.ppo_epochs", f"must be >= 1, got {self.ppo_epochs}")
        for key in ("kl_target", "beta", "kl_coef", "vf_coef"):
            _require(getattr(self, key) >= 0, f"stage.{key}", f"must be >= 0, got {getattr(self, key)}")
        _require(0 < self.clip_range < 1, "stage.clip_range", f"must be in (0, 1), got {self.clip_range}",
                 "typical: 0.2")
        for key in ("gamma", "lam"):
            _require(0 <= getattr(self, key) <= 1, f"stage.{key}", f"must be in [0, 1], got {getattr(self, key)}")
        _require(self.rollout_tokens >= 1, "stage.rollout_tokens", f"must be >= 1, got {self.rollout_tokens}")
        _require(self.rollout_temperature > 0, "stage.rollout_temperature",
                 f"must be > 0, got {self.rollout_temperature}", "rollouts must sample; typical: 1.0")


def is_reward_path(value: str) -> bool:
    """stage.reward names a checkpoint folder (not a rule) when it looks like a path."""
    return any(c in value for c in ("/", "\\", os.sep)) or value.startswith(("~", "."))


@dataclass(kw_only=True)
class OptimConfig:
    lr: float = knob(3e-3, "Peak learning rate of AdamW.")
    min_lr_ratio: float = knob(0.1, "Final learning rate as a share of lr.")
    weight_decay: float = knob(0.1, "AdamW weight decay (not applied to norms and embeddings).")
    beta1: float = knob(0.9, "AdamW beta1 (momentum).")
    beta2: float = knob(0.95, "AdamW beta2 (second-moment decay).")
    eps: float = knob(1e-8, "AdamW epsilon.")
    warmup_steps: int = knob(50, "Steps of linear warm-up from 0 to lr.")
    schedule: str = knob("cosine", "Schedule after warm-up: cosine, wsd (warmup-stable-decay) or constant.")
    decay_fraction: float = knob(0.2, "For wsd: the final share of steps over which lr decays.")
    grad_clip: float = knob(1.0, "Clip the global gradient norm to this (0 = off).")

    def __post_init__(self) -> None:
        _require(0 < self.lr < float("inf"), "optim.lr", f"must be positive and finite, got {self.lr}",
                 "typical values: 1e-4 .. 3e-3")
        _require(0.0 <= self.min_lr_ratio <= 1.0, "optim.min_lr_ratio", "must be in [0, 1]")
        _require(self.weight_decay >= 0, "optim.weight_decay", "must be >= 0")
        _require(0.0 <= self.beta1 < 1.0, "optim.beta1", "must be in [0, 1)")
        _require(0.0 <= self.beta2 < 1.0, "optim.beta2", "must be in [0, 1)")
        _require(self.eps > 0, "optim.eps", "must be positive")
        _require(self.warmup_steps >= 0, "optim.warmup_steps", "must be >= 0")
        _require(self.schedule in ("cosine", "wsd", "constant"), "optim.schedule",
                 f"unknown schedule {self.schedule!r}", "use cosine, wsd or constant")
        _require(0.0 < self.decay_fraction <= 1.0, "optim.decay_fraction", "must be in (0, 1]")
        _require(self.grad_clip >= 0, "optim.grad_clip", "must be >= 0")


@dataclass(kw_only=True)
class HardwareConfig:
    device: str = knob("auto", "Where to train: auto, cpu, cuda, cuda:N or mps.")
    precision: str = knob("auto", "auto (bf16 where the chip has it, fp16 on older GPUs, else fp32), bf16, fp16, fp32.")
    compile: bool = knob(False, "torch.compile the model (slower start, faster steps on GPUs).")
    grad_checkpointing: bool = knob(False, "Recompute activations in the backward pass: less memory, ~30% slower.")
    threads: int = knob(0, "CPU threads for torch; 0 keeps torch's default.")
    tf32: bool = knob(True, "Allow TF32 matmuls on NVIDIA GPUs (faster, tiny precision cost).")

    def __post_init__(self) -> None:
        indexed_cuda = self.device.startswith("cuda:") and self.device[5:].isdigit()
        ok = self.device in ("auto", "cpu", "cuda", "mps") or indexed_cuda
        _require(ok, "hardware.device", f"unknown device {self.device!r}", "use auto, cpu, cuda, cuda:0 or mps")
        _require(self.precision in ("auto", "bf16", "fp16", "fp32"), "hardware.precision",
                 f"unknown precision {self.precision!r}", "use auto, bf16, fp16 or fp32")
        _require(self.threads >= 0, "hardware.threads", "must be >= 0")


@dataclass(kw_only=True)
class RunConfig:
    name: str = knob("", "Short name added to the run folder's name.")
    seed: int = knob(0, "Seed for init, data order and sampling; the same seed repeats a run exactly on CPU.")
    max_steps: int = knob(1000, "Optimizer steps to train for.")
    batch_size: int = knob(16, "Sequences per micro-batch.")
    grad_accum: int = knob(1, "Micro-batches accumulated per optimizer step (tokens/step = batch x accum x seq_len).")
    log_every: int = knob(10, "Emit a step event (loss, lr, throughput) every N steps.")
    eval_every: int = knob(200, "Evaluate val loss every N steps (and at the end); 0 = only at the end.")
    eval_batches: int = knob(20, "Batches of validation data per evaluation.")
    task_eval_items: int = knob(100, "Held-out checkable tasks solved greedily at each eval (built-in data; 0 = off).")
    checkpoint_every: int = knob(500, "Save a checkpoint every N steps (and always at the end); 0 = only at the end.")
    keep_last: int = knob(0, "Keep only the newest N periodic checkpoints (best is always kept); 0 keeps all.")
    sample_prompts: list[str] = knob(["The", "What is 12 + 35?"], "Prompts completed at each eval to show progress.")
    sample_tokens: int = knob(32, "Tokens generated for each sample prompt.")
    max_nonfinite_steps: int = knob(5, "Stop the run as diverged after this many steps in a row whose loss or "
                                    "gradient is NaN/inf (each such step is skipped, the weights untouched).")

    def __post_init__(self) -> None:
        for name in ("max_steps", "batch_size", "grad_accum", "log_every", "max_nonfinite_steps"):
            _require(getattr(self, name) > 0, f"run.{name}", f"must be positive, got {getattr(self, name)}")
        for name in ("eval_every", "eval_batches", "checkpoint_every", "keep_last", "task_eval_items", "sample_tokens"):
            _require(getattr(self, name) >= 0, f"run.{name}", f"must be >= 0, got {getattr(self, name)}")
        _require(0 <= self.seed < 2**32, "run.seed", f"must be a whole number from 0 to {2**32 - 1}, got {self.seed}",
                 "e.g. --seed 1234")


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
    """Every knob with its default and help text, per section (the studio's tooltips come from here)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for section, cls in SECTION_TYPES.items():
        inst = cls()
        out[section] = {f.name: {"default": getattr(inst, f.name), "help": f.metadata.get("help", "")}
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
