"""Devices and precision: pick the device, decide autocast dtype, and report the machine (`minigpt doctor`).

`init_runtime` / `shutdown_runtime` are the one place where threads, TF32, seeds and (later) distributed
set-up happen. It knows nothing about models or data.
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import sys
from dataclasses import dataclass

import psutil
import torch

from engine.config import OPTIMIZERS, SCHEDULES, HardwareConfig
from engine.cpu_malloc import reuse_freed_memory
from engine.errors import UserError


@dataclass
class Runtime:
    device: torch.device
    precision: str                 # "bf16" | "fp16" | "fp32"
    autocast_dtype: torch.dtype | None
    use_grad_scaler: bool
    rank: int = 0                  # this process among the run's (torch.distributed); 0 writes events and files
    world: int = 1                 # how many processes train together

    def autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def describe(self) -> str:
        return f"{device_name(self.device)} · {self.precision}"


def cpu_bf16_support(flags: str | None = None) -> str | None:
    """'amx' (AMX tiles), 'avx512' (AVX512-BF16 dot products only), or None (not Linux, or neither).
    flags: the text of /proc/cpuinfo (read here when None; tests pass their own)."""
    if flags is None:
        try:
            with open("/proc/cpuinfo") as f:
                flags = f.read()
        except OSError:
            return None  # not Linux: leave fp32 (Apple CPUs train on MPS instead)
    words = set(flags.split())
    if "amx_bf16" in words:
        return "amx"
    return "avx512" if "avx512_bf16" in words else None


def cpu_has_native_bf16() -> bool:
    return cpu_bf16_support() is not None


def cpu_auto_precision(flags: str | None = None, speedup: float | None = None) -> tuple[str, str]:
    """What hardware.precision: auto trains in on this CPU, and why (`doctor --json` shows both). AMX: bf16. Neither
    AMX nor AVX512-BF16: fp32 (bf16 would be emulated). AVX512-BF16 alone differs by chip (1.33x / 1.69x faster
    than fp32 on an AMD EPYC, bench/results/cpu_precision.md; 0.70x / 0.79x on a Xeon measured earlier), so the chip
    is asked: engine/cpu_bf16_probe.py times bf16 against fp32 once and caches the answer in the workspace root.
    `speedup` stands in for that measurement (tests)."""
    kind = cpu_bf16_support(flags)
    if kind == "amx":
        return "bf16", "the CPU has AMX-BF16: bf16 matmuls run on its tiles"
    if kind == "avx512":
        from engine.config import default_workspace
        from engine.cpu_bf16_probe import WIN, bf16_speedup
        if speedup is None:
            speedup = bf16_speedup(default_workspace())
        if speedup >= WIN:
            return "bf16", f"the CPU has AVX512-BF16 and bf16 autocast measured {speedup:.2f}x fp32's speed here"
        return "fp32", (f"the CPU has AVX512-BF16, but bf16 autocast measured {speedup:.2f}x fp32's speed here "
                        f"(below {WIN}x)")
    return "fp32", "the CPU has neither AVX512-BF16 nor AMX-BF16: bf16 would be emulated, slower than fp32"


def cpu_prefers_bf16(flags: str | None = None, speedup: float | None = None) -> bool:
    return cpu_auto_precision(flags, speedup)[0] == "bf16"


def auto_precision_reason(device: torch.device) -> str:
    """Why `auto` picks what pick_precision picks on `device`, in words for doctor and the Hardware page."""
    if device.type == "cuda":
        return "CUDA GPU: bf16 where it is supported, else fp16 with a gradient scaler"
    if device.type == "mps":
        return "Apple GPU: bf16 on macOS 14 or newer, else fp32"
    return cpu_auto_precision()[1]


def decode_autocast(rt: Runtime):
    """The autocast for token-by-token decoding (samples and task evals during training): none on the CPU, where
    decoding is bound by reading weights and bf16 autocast re-casts them every step (see engine/inference.py)."""
    return contextlib.nullcontext if rt.device.type == "cpu" else rt.autocast


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", 0)
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError("hardware.device: CUDA was asked for but no CUDA GPU is visible",
                            "use hardware.device=auto or cpu, or check the NVIDIA driver with `minigpt doctor`",
                            kind="config")
        dev = torch.device(name if ":" in name else "cuda:0")
        if dev.index >= torch.cuda.device_count():
            raise UserError(f"hardware.device: {name} does not exist ({torch.cuda.device_count()} GPUs visible)",
                            "pick an index below the GPU count", kind="config")
        return dev
    if name == "mps" and not torch.backends.mps.is_available():
        raise UserError("hardware.device: MPS was asked for but is not available", "use auto or cpu", kind="config")
    return torch.device(name)


def pick_precision(requested: str, device: torch.device) -> tuple[str, torch.dtype | None, bool]:
    """(name, autocast dtype or None, use GradScaler)."""
    if requested == "auto":
        if device.type == "cuda":
            requested = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        elif device.type == "mps":
            requested = "bf16" if torch.backends.mps.is_macos_or_newer(14, 0) else "fp32"
        else:
            requested = "bf16" if cpu_prefers_bf16() else "fp32"
    if requested == "fp16" and device.type == "cpu":
        raise UserError("hardware.precision: fp16 is not supported on the CPU", "use bf16 or fp32", kind="config")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}[requested]
    return requested, dtype, requested == "fp16"


def init_runtime(cfg: HardwareConfig, seed: int) -> Runtime:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    if device.type == "cpu":
        reuse_freed_memory()   # big tensors reuse last step's memory, no page faults (engine/cpu_malloc.py)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = cfg.tf32
        torch.backends.cudnn.allow_tf32 = cfg.tf32
    random.seed(seed)
    torch.manual_seed(seed)
    precision, dtype, scaler = pick_precision(cfg.precision, device)
    return Runtime(device, precision, dtype, scaler)


def shutdown_runtime(rt: Runtime) -> None:
    if rt.device.type == "cuda":
        torch.cuda.synchronize(rt.device)


def memory_stats(device: torch.device) -> dict[str, int]:
    """Bytes: GPU allocated / reserved / peak on CUDA; process RSS (and peak RSS) elsewhere."""
    if device.type == "cuda":
        return {"mem_allocated": torch.cuda.memory_allocated(device),
                "mem_reserved": torch.cuda.memory_reserved(device),
                "mem_peak": torch.cuda.max_memory_allocated(device), "mem_kind": "cuda"}
    import resource  # POSIX only; Windows has no such module
    rss = psutil.Process().memory_info().rss
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    if device.type == "mps":
        return {"mem_allocated": torch.mps.current_allocated_memory(),
                "mem_reserved": torch.mps.driver_allocated_memory(), "mem_peak": peak, "mem_kind": "mps"}
    return {"mem_allocated": rss, "mem_reserved": rss, "mem_peak": peak, "mem_kind": "rss"}


def free_memory(device: torch.device) -> tuple[int, str]:
    """(bytes a new allocation can still take on `device`, how to name the device in a message).
    CPU: available RAM (swap is not counted: training from swap is no use); CUDA: the driver's free figure;
    MPS: what Metal recommends for this process minus what it already holds."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0], f"this GPU ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        left = torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory()
        return max(0, left), "this GPU (MPS)"
    return psutil.virtual_memory().available, "this machine"


def rule_rewards() -> list[dict]:
    """The named rule rewards (engine/train/rewards.py; no torch there) for the studio's reward-source choice."""
    from engine.train.rewards import RULE_REWARDS
    return [{"name": r.name, "description": r.description, "needs_answer": r.needs_answer}
            for r in RULE_REWARDS.values()]


def preset_params() -> dict[str, dict[str, int]]:
    """{preset: {"params", "params_active"}} with the preset's own tokenizer size (active < params: experts)."""
    from engine.config import list_presets, load_config
    from engine.estimate import param_count
    out = {}
    for name in list_presets("models"):
        cfg = load_config(overrides=[f"model.preset={name}"])
        n = param_count(cfg.model, cfg.model.vocab_size or cfg.tokenizer.vocab_size)
        out[name] = {"params": n["total"], "params_active": n["active"]}
    return out


def doctor_report() -> dict:
    """What this machine and engine offer; the studio builds its hardware page from this, never hard-coding."""
    from engine import __version__
    from engine.config import ACTIVATIONS, COMPILE_MODES, help_for, list_presets
    from engine.device_auto import auto_picks, mps_report
    from engine.stages import STAGES, describe

    gpus = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            gpus.append({"index": i, "name": p.name, "memory": p.total_memory, "capability": f"{p.major}.{p.minor}",
                         "bf16": torch.cuda.is_bf16_supported()})
    mps = bool(torch.backends.mps.is_available())
    vm = psutil.virtual_memory()
    precisions = ["auto", "fp32"]
    if gpus or mps or cpu_has_native_bf16():
        precisions.insert(1, "bf16")
    if gpus:
        precisions.insert(2, "fp16")
    devices = ["auto", "cpu"] + (["cuda"] + [f"cuda:{g['index']}" for g in gpus] if gpus else [])
    devices += ["mps"] if mps else []
    return {
        "engine_version": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpu": {"name": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                "threads": torch.get_num_threads(), "native_bf16": cpu_has_native_bf16(),
                "bf16_kind": cpu_bf16_support(), "auto_precision": cpu_auto_precision()[0],
                "auto_precision_why": cpu_auto_precision()[1]},
        "memory": {"total": vm.total, "available": vm.available},
        "cuda": {"available": bool(gpus), "version": torch.version.cuda, "count": len(gpus), "gpus": gpus},
        "mps": mps_report(),
        "default_device": str(pick_device("auto")),
        "auto": auto_picks(),
        "options": {
            "stages": list(STAGES),
            "stage_info": describe(),
            "model_presets": list_presets("models"),
            "model_preset_params": preset_params(),
            "stage_presets": list_presets("stages"),
            "rule_rewards": rule_rewards(),
            "devices": devices,
            "precisions": precisions,
            "compile": hasattr(torch, "compile"),
            "compile_modes": list(COMPILE_MODES),
            "grad_checkpointing": True,
            "tf32": bool(gpus),
            "auto_batch_size": True,
            "multi_gpu": len(gpus) > 1,
            "parallels": ["none", "ddp", "fsdp"] if len(gpus) > 1 else False,  # hardware.parallel, --nproc N
            "activations": list(ACTIVATIONS),
            "schedules": list(SCHEDULES),
            "optimizers": list(OPTIMIZERS),
        },
        "knobs": help_for(),
    }
