"""Limits a valid-looking config must still respect on this machine: the memory a run needs against the memory
the machine has, and a run's length against what could ever finish. Each refusal names the key, its value, the
largest value that passes and the reason. No torch (the studio's wizard runs the same checks); psutil measures.

The per-field checks (types, signs, ranges) stay in each section's __post_init__; these need the whole config.
"""

from __future__ import annotations

import dataclasses
import functools
import shutil
import subprocess
from typing import TYPE_CHECKING

import psutil

from engine.config_base import ConfigError

if TYPE_CHECKING:
    from engine.config import Config

INT64_MAX = 2**63 - 1          # steps, token counts and tensor sizes are int64 in torch and in checkpoints
FASTEST_PASS_S = 1e-4          # a forward (+ backward) pass of even the smallest model on the fastest GPU: >= 0.1 ms
LONGEST_RUN_S = 365 * 86400    # a run that cannot end within a year at that speed never ends
TOKEN_BYTES = 16               # each token of a micro-batch: an int64 input and an int64 target
GIB = 2**30
# Refuse only what cannot fit by a wide margin: the estimate is within ~25% of measured peaks, and a run a little
# over may still go (swap, the OOM back-off halving the micro-batch); the wizard warns about those instead.
FIT_SLACK = 1.5


def check_limits(cfg: Config, ram_bytes: int | None = None) -> None:
    """Raise ConfigError when the run could never finish or cannot fit in this machine's memory."""
    check_run_length(cfg)
    check_fits(cfg, ram_bytes)


# ---------------------------------------------------------------------------------------------- time
def passes(cfg: Config) -> dict[str, int]:
    """Forward passes the run makes, per key that scales them: training micro-batches, eval batches, sample and
    rollout tokens (each generated token is one pass)."""
    run, stage = cfg.run, cfg.stage
    evals = 1 + (run.max_steps // run.eval_every if run.eval_every else 0)
    out = {"run.grad_accum": run.max_steps * run.grad_accum, "run.eval_batches": evals * run.eval_batches,
           "run.sample_tokens": evals * len(run.sample_prompts) * run.sample_tokens}
    if stage.name in ("ppo", "grpo"):  # each step samples its rollouts, then makes ppo_epochs passes over them
        out["stage.ppo_epochs"] = run.max_steps * run.grad_accum * stage.ppo_epochs
        out["stage.rollout_tokens"] = run.max_steps * stage.rollout_tokens
    return out


def check_run_length(cfg: Config) -> None:
    """Refuse a run whose passes, even at FASTEST_PASS_S each, take longer than LONGEST_RUN_S."""
    counts = passes(cfg)
    limit = int(LONGEST_RUN_S / FASTEST_PASS_S)
    total = sum(counts.values())
    if total <= limit:
        return
    key = max(counts, key=counts.get)
    if key == "run.grad_accum" and cfg.run.global_batch_tokens:  # grad_accum was derived from it
        key = "run.global_batch_tokens"
    elif key == "run.grad_accum" and cfg.run.grad_accum == 1:
        key = "run.max_steps"
    value = getattr(cfg.run, key[4:]) if key.startswith("run.") else getattr(cfg.stage, key[6:])
    years = total * FASTEST_PASS_S / (365 * 86400)
    share = limit / total
    fastest = f"{FASTEST_PASS_S * 1e3:g} ms"
    raise ConfigError(key, f"{_fmt(value)} makes the run ~{total:.2e} forward passes; even at {fastest} "
                      f"each (the smallest model on the fastest GPU) that is ~{years:,.0f} years, so it never "
                      f"finishes; at most ~{max(1, int(value * share)):,} ends within a year",
                      f"lower {key}" + (" or run.max_steps" if key != "run.max_steps" else ""))


# ---------------------------------------------------------------------------------------------- memory
def check_fits(cfg: Config, ram_bytes: int | None = None) -> None:
    """Refuse what cannot fit in this machine by more than FIT_SLACK: the fp32 model built in RAM before it moves
    to the device, and the training estimate (engine.estimate.memory_bytes plus the step's micro-batches, which
    the loop holds together) against RAM, or the GPU's memory when it is larger and the run may use it."""
    ram = ram_bytes if ram_bytes is not None else psutil.virtual_memory().total
    need = training_bytes(cfg)
    have, where = ram, "this machine"
    if need > ram * FIT_SLACK and cfg.hardware.device not in ("cpu", "mps"):  # a GPU may hold more (asked now)
        gpu = gpu_memory()
        if gpu > have:
            have, where = gpu, "this machine's GPU"
    if need > have * FIT_SLACK:
        key = _blame(cfg, training_bytes)
        raise _refusal(cfg, key, need, have, where, training_parts(cfg), training_bytes)
    if not cfg.stage.init:  # with stage.init the shape is the checkpoint's; set-up checks it before loading
        need = host_model_bytes(cfg)
        if need > ram * FIT_SLACK:
            key = _blame(cfg, host_model_bytes)
            raise _refusal(cfg, key, need, ram, "this machine", f"the model (~{need / GIB:,.1f} GiB in fp32) is built "
                           "in this machine's memory before it moves to the device", host_model_bytes)


def host_model_bytes(cfg: Config) -> int:
    """The fp32 model in RAM as GPT() builds it: parameters (and LoRA adapters) plus the RoPE cos/sin tables."""
    from engine.estimate import lora_param_count, param_count
    m, vocab = cfg.model, cfg.model.vocab_size or cfg.tokenizer.vocab_size
    n = param_count(m, vocab)["total"] + lora_param_count(m, cfg.lora.rank, cfg.lora.targets, cfg.lora.token_rows,
                                                          vocab, cfg.lora.dora)
    return 4 * n + 2 * 4 * m.max_seq_len * (m.head_dim // 2)


def training_bytes(cfg: Config) -> int:
    """The smallest training figure this config can have here: bf16 activations unless fp32 is asked for, the
    model state divided among processes under FSDP (counted as none, the process count being unknown), plus
    the step's micro-batches."""
    from engine.estimate import memory_bytes
    precision = "fp32" if cfg.hardware.precision == "fp32" else "bf16"
    vocab = cfg.model.vocab_size or cfg.tokenizer.vocab_size
    parts = memory_bytes(cfg, vocab, precision) if not cfg.stage.init else {"total": 0, "activations": 0}
    model = parts["activations"] if cfg.hardware.parallel == "fsdp" else parts["total"]
    return model + step_batch_bytes(cfg)


def training_parts(cfg: Config) -> str:
    """What the training figure is made of, in words (the refusal's hint)."""
    from engine.estimate import memory_bytes
    size = step_batch_bytes(cfg) / GIB
    batches = f", the step's micro-batches ~{size:,.1f} GiB" if size >= 0.1 else ""
    if cfg.stage.init:
        return batches[2:] or "the step's micro-batches"
    p = memory_bytes(cfg, cfg.model.vocab_size or cfg.tokenizer.vocab_size,
                     "fp32" if cfg.hardware.precision == "fp32" else "bf16")
    state = p["weights"] + p["grads"] + p["optimizer"]
    return (f"weights, gradients and {cfg.optim.name} state ~{state / GIB:,.1f} GiB, activations of one micro-batch "
            f"~{p['activations'] / GIB:,.1f} GiB{batches}")


def step_batch_bytes(cfg: Config) -> int:
    """Every micro-batch of an optimizer step at once (engine/train/loop.py collects them before the first
    backward, to know the step's token count)."""
    return cfg.tokens_per_step * TOKEN_BYTES


@functools.lru_cache(maxsize=1)
def gpu_memory() -> int:
    """Total memory of this machine's largest NVIDIA GPU from nvidia-smi (0 when there is none or it fails)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return 0
    try:
        out = subprocess.run([exe, "--query-gpu=memory.total", "--format=csv,noheader,nounits"], capture_output=True,
                             text=True, timeout=5, check=True).stdout
        return max((int(float(line)) * 2**20 for line in out.split() if line.strip()), default=0)
    except (OSError, subprocess.SubprocessError, ValueError):
        return 0


# ---------------------------------------------------------------------------------------------- blame and range
# The integer keys a memory refusal can blame, with how to set each on a config (the largest fitting value is
# found by bisection on the arithmetic).
def _set(cfg: Config, key: str, value: int) -> Config:
    section, name = key.split(".")
    if key == "run.grad_accum":  # global_batch_tokens would derive it again
        return dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, grad_accum=value, global_batch_tokens=0))
    part = dataclasses.replace(getattr(cfg, section), **{name: value})
    if key == "model.max_seq_len":
        return dataclasses.replace(cfg, model=part, data=dataclasses.replace(cfg.data, seq_len=min(cfg.data.seq_len,
                                                                                                   value)))
    return dataclasses.replace(cfg, **{section: part})


RANGED = ("model.n_layer", "model.d_ff", "model.vocab_size", "model.max_seq_len", "run.batch_size",
          "run.grad_accum", "data.seq_len", "tokenizer.vocab_size", "lora.rank", "model.moe.num_experts")


def _blame(cfg: Config, measure) -> str:
    """The key to name: the step's batches when they dominate, else the knob engine.estimate blames, else the
    max_seq_len of a RoPE table too large to build."""
    from engine.estimate import dominant_knob
    if measure is training_bytes and step_batch_bytes(cfg) * 2 > measure(cfg):
        return "run.global_batch_tokens" if cfg.run.global_batch_tokens else "run.grad_accum"
    if measure is host_model_bytes and 8 * cfg.model.max_seq_len * (cfg.model.head_dim // 2) * 2 > measure(cfg):
        return "model.max_seq_len"
    if cfg.stage.init:
        return "run.batch_size"
    if cfg.model.moe is not None:  # engine.estimate blames dense knobs only
        dense = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, moe=None))
        if measure(dense) * 2 < measure(cfg):
            return "model.moe.num_experts"
    key = dominant_knob(cfg, cfg.model.vocab_size or cfg.tokenizer.vocab_size)
    if key == "model.vocab_size" and not cfg.model.vocab_size:
        key = "tokenizer.vocab_size"
    return key


def _value(cfg: Config, key: str):
    obj = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


def _fmt(value) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _largest(cfg: Config, key: str, measure, have: int) -> int | None:
    """The largest value of `key` whose figure fits in `have` bytes (None when even 1 does not, or the key is not
    a plain count)."""
    if key not in RANGED or not isinstance(_value(cfg, key), int):
        return None
    lo, hi = 0, int(_value(cfg, key))
    while lo < hi:  # invariant: lo fits (or is 0), hi does not
        mid = (lo + hi + 1) // 2
        try:
            fits = measure(_set(cfg, key, mid)) <= have
        except (ConfigError, TypeError, ValueError):
            fits = False
        lo, hi = (mid, hi) if fits else (lo, mid - 1)
    return lo or None


def _refusal(cfg: Config, key: str, need: int, have: int, where: str, why: str, measure) -> ConfigError:
    value = _value(cfg, key) if key != "model.moe.num_experts" else cfg.model.moe.num_experts
    most = _largest(cfg, key, measure, int(have * FIT_SLACK)) if "." in key and key.count(".") == 1 else None
    allowed = f"; at most {most:,} is accepted (up to {FIT_SLACK:g}x its memory)" if most else ""
    return ConfigError(key, f"{_fmt(value)} needs ~{need / GIB:,.1f} GiB, {where} has {have / GIB:,.1f} GiB{allowed}",
                       f"{why}; lower {key}")
