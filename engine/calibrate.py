"""A short real throughput probe per device and model preset (`minigpt doctor --calibrate PRESET`).

Builds the preset's model on the chosen device and precision, times a few forward + backward + AdamW steps on
random tokens, and caches the measured tokens/s and FLOP/s in the workspace (calibration.json), keyed by
device, torch version, preset and precision. engine.estimate turns the FLOP/s into a run's time; this module
knows nothing about runs, data or the studio.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import torch

from engine.config import ConfigError, HardwareConfig, build_config, list_presets, resolve_document
from engine.errors import UserError
from engine.estimate import flops_per_token
from engine.hardware import device_name, init_runtime
from engine.model.gpt import GPT
from engine.optim import build_optimizer

CACHE_FILE = "calibration.json"
CPU_PROBE_FLOPS = 1e11          # work per probe step on a CPU (~1-2 s on 2 idle cores): a big preset answers in seconds
TIME_BUDGET_S = 15.0            # stop timing after this long, whatever `steps` says (at least one timed step)


def cache_key(device: str, precision: str, preset: str) -> str:
    return f"{device}|torch {torch.__version__}|{preset}|{precision}"


def read_cache(workspace: Path) -> dict:
    try:
        data = json.loads((workspace / CACHE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}   # missing or damaged: the cache is only a shortcut, a new probe rewrites it
    return data if isinstance(data, dict) else {}


def write_cache(workspace: Path, key: str, result: dict) -> None:
    data = read_cache(workspace)
    data[key] = result
    workspace.mkdir(parents=True, exist_ok=True)
    tmp = workspace / f"{CACHE_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    tmp.replace(workspace / CACHE_FILE)


def preset_config(preset: str):
    if preset not in list_presets("models"):
        raise UserError(f"--calibrate: no model preset {preset!r}", f"available: {', '.join(list_presets('models'))}",
                        kind="config")
    try:
        return build_config(resolve_document({"model": {"preset": preset}}), f"preset {preset}")
    except ConfigError as e:
        raise UserError(f"preset {preset}: {e.message}", e.hint, kind="config") from None


def calibrate(preset: str, workspace: Path, device: str = "auto", precision: str = "auto", steps: int = 3,
              fresh: bool = False) -> dict:
    """Measured training throughput of `preset` here; from the cache unless `fresh` or not measured yet."""
    try:
        hw = HardwareConfig(device=device, precision=precision)
    except ConfigError as e:
        raise UserError(e.message, e.hint, kind="config") from None
    cfg = preset_config(preset)
    rt = init_runtime(hw, seed=0)
    key = cache_key(device_name(rt.device), rt.precision, preset)
    if not fresh:
        hit = read_cache(workspace).get(key)
        if isinstance(hit, dict) and hit.get("flops_per_s"):
            return {**hit, "cached": True}
    vocab = cfg.model.vocab_size or cfg.tokenizer.vocab_size
    model_cfg = dataclasses.replace(cfg.model, vocab_size=vocab)
    batch, seq = probe_shape(model_cfg, cfg.run.micro_batch, cfg.data.seq_len, rt.device.type)
    while True:
        try:
            tokens_per_s, seconds, timed = _probe(model_cfg, cfg.optim, rt, batch, seq, max(1, steps))
            break
        except torch.OutOfMemoryError:
            if batch == 1:
                raise UserError(f"preset {preset} does not fit on {device_name(rt.device)} even at batch size 1",
                                "pick a smaller preset or another device", kind="memory") from None
            batch //= 2
            if rt.device.type == "cuda":
                torch.cuda.empty_cache()
    fpt = flops_per_token(model_cfg, seq, vocab)
    result = {"key": key, "preset": preset, "device": device_name(rt.device), "device_type": rt.device.type,
              "precision": rt.precision, "torch": torch.__version__, "probe_batch": batch, "probe_seq_len": seq,
              "steps": timed, "seconds": round(seconds, 3), "tokens_per_s": round(tokens_per_s, 1),
              "flops_per_token": fpt, "flops_per_s": tokens_per_s * fpt, "measured_at": time.time()}
    write_cache(workspace, key, result)
    return {**result, "cached": False}


def probe_shape(model_cfg, batch: int, seq: int, device_type: str) -> tuple[int, int]:
    """The preset's own micro-batch, except on a CPU where a big preset's batch is cut to CPU_PROBE_FLOPS (few
    threads run a large matmul at the same rate as a slightly smaller one, so FLOP/s carries over)."""
    if device_type != "cpu":
        return batch, seq
    per_seq = flops_per_token(model_cfg, seq) * seq
    if per_seq * batch <= CPU_PROBE_FLOPS:
        return batch, seq
    if per_seq <= CPU_PROBE_FLOPS:
        return max(1, int(CPU_PROBE_FLOPS // per_seq)), seq
    return 1, max(64, int(seq * CPU_PROBE_FLOPS // per_seq))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _probe(model_cfg, optim_cfg, rt, batch: int, seq: int, steps: int) -> tuple[float, float, int]:
    """(tokens/s, seconds timed, steps timed): one untimed warm-up step, then up to `steps` timed ones, each
    a training step as the loop does it (autocast, backward, unscale, clip, AdamW)."""
    model = GPT(model_cfg).to(rt.device)
    opt = build_optimizer(model, optim_cfg, rt.device)
    scaler = torch.amp.GradScaler(rt.device.type) if rt.use_grad_scaler else None
    idx = torch.randint(0, model_cfg.vocab_size, (batch, seq + 1), device=rt.device)   # (B, T+1)
    x, y = idx[:, :-1], idx[:, 1:]                                                      # (B, T)

    def step() -> None:
        with rt.autocast():
            _, loss = model(x, y)
        (scaler.scale(loss) if scaler else loss).backward()
        if scaler:
            scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        if scaler:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()
        opt.zero_grad(set_to_none=True)

    step()                      # warm-up: allocator, kernels, lazy optimizer state
    _sync(rt.device)
    start = time.perf_counter()
    done = 0
    while done < steps:
        step()
        _sync(rt.device)
        done += 1
        if time.perf_counter() - start > TIME_BUDGET_S:
            break
    seconds = time.perf_counter() - start
    return batch * seq * done / seconds, seconds, done
