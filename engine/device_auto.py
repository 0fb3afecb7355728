"""What `auto` means on this machine: whether to compile, how much memory the batch-size search may plan for, the
Apple GPU's facts, and the summary `minigpt doctor` shows (device, memory, bf16, and auto's picks).

Device and precision choice itself stays in engine/hardware.py; this module only reads the machine. It knows nothing
about models or runs.
"""

from __future__ import annotations

import psutil
import torch

from engine.estimate import CPU_COMPILE_MIN_FLOPS, CPU_COMPILE_WARM_MIN_FLOPS, cpu_compile_pays
from engine.hardware import auto_precision_reason, cpu_bf16_support, pick_device, pick_precision

# The auto batch-size search stops here (sequences per micro-batch): each try is a real step, so the ceiling bounds
# the search's start-up time, and a CPU gains little from micro-batches beyond a few dozen sequences. Chosen, not
# measured: raise them where a device shows otherwise.
AUTO_BATCH_CEILING = {"cuda": 512, "mps": 256, "cpu": 32}



def compile_enabled(mode: str, device: torch.device, run_flops: float | None = None, warm: bool = False) -> bool:
    """hardware.compile: on / off as said; auto compiles on CUDA, on the CPU when the run's planned work
    `run_flops` is at least CPU_COMPILE_MIN_FLOPS (a short run would spend longer compiling than it saves), or
    CPU_COMPILE_WARM_MIN_FLOPS when `warm` (this shape compiled before; its graphs are cached), and never on Apple
    GPUs (eager is not slower enough there to pay for the compile time)."""
    if mode in ("on", "off"):
        return mode == "on"
    if device.type == "cpu":
        return cpu_compile_pays(run_flops, warm)
    return device.type == "cuda"


def compile_reason(device: torch.device, run_flops: float | None = None, warm: bool = False) -> str:
    """Why hardware.compile: auto does what it does here (doctor and the run log say it)."""
    if device.type == "cuda":
        return "a CUDA GPU: compiled"
    if device.type != "cpu":
        return "an Apple GPU: eager (compiling does not pay there)"
    rule = (f"on a CPU a run is compiled when its planned work is at least {CPU_COMPILE_MIN_FLOPS:.0e} FLOPs, "
            f"or {CPU_COMPILE_WARM_MIN_FLOPS:.0e} when the workspace compiled its shape before (the compiled "
            "kernels are cached), where the faster steps repay the compile time several times over")
    if run_flops is None:
        return rule
    verdict = "compiles" if cpu_compile_pays(run_flops, warm) else "eager"  # said before the compile starts
    cached = "its shape compiled here before; " if warm else ""
    # auto never pays a cold compile for such a run, so say how to pay it once (a compile=on run leaves the record)
    hint = ("; one run with hardware.compile=on pays the compile for this shape, and auto compiles its later runs"
            if verdict == "eager" and cpu_compile_pays(run_flops, warm=True) else "")
    return f"{verdict}: this run plans {run_flops:.1e} FLOPs; {cached}{rule}{hint}"


def mps_bf16() -> bool:
    return bool(torch.backends.mps.is_available()) and torch.backends.mps.is_macos_or_newer(14, 0)


def mps_report() -> dict:
    """The Apple GPU: present or not, the memory Metal recommends this process keeps within, bf16 support."""
    if not torch.backends.mps.is_available():
        return {"available": False}
    return {"available": True, "memory": int(torch.mps.recommended_max_memory()), "bf16": mps_bf16()}


def device_memory(device: torch.device) -> int:
    """Bytes this process may use on `device`: the GPU's free plus what torch already holds there, Metal's
    recommended maximum, or on the CPU the available RAM plus this process's resident set."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free + torch.cuda.memory_reserved(device))
    if device.type == "mps":
        return int(torch.mps.recommended_max_memory())
    return int(psutil.virtual_memory().available + psutil.Process().memory_info().rss)


def memory_budget(device: torch.device, fraction: float) -> int:
    """hardware.memory_fraction of device_memory: what the batch-size search may plan a step's peak for."""
    return int(fraction * device_memory(device))


def device_summary(device: torch.device) -> dict:
    """Kind, memory and bf16 support of one device."""
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        return {"kind": "cuda", "name": p.name, "memory": int(p.total_memory), "bf16": torch.cuda.is_bf16_supported()}
    if device.type == "mps":
        return {"kind": "mps", "name": "Apple GPU (MPS)", "memory": int(torch.mps.recommended_max_memory()),
                "bf16": mps_bf16()}
    return {"kind": "cpu", "name": "CPU", "memory": int(psutil.virtual_memory().total),
            "bf16": cpu_bf16_support() is not None}


def auto_picks(fraction: float = 0.9) -> dict:
    """What hardware.device / precision / compile: auto and run.batch_size: auto choose here (doctor --json)."""
    device = pick_device("auto")
    summary = device_summary(device)
    ceiling = AUTO_BATCH_CEILING.get(device.type, AUTO_BATCH_CEILING["cpu"])
    return {
        "device": str(device), **{k: summary[k] for k in ("kind", "name", "memory", "bf16")},
        "precision": pick_precision("auto", device)[0], "precision_why": auto_precision_reason(device),
        "compile": "on" if compile_enabled("auto", device) else "off", "compile_why": compile_reason(device),
        "batch_size": {"how": "probe", "budget": memory_budget(device, fraction), "memory_fraction": fraction,
                       "ceiling": ceiling,
                       "text": f"the largest micro-batch up to {ceiling} whose step fits in {fraction:.0%} of "
                               f"{'RAM' if device.type == 'cpu' else 'GPU memory'}, tried before the first step"},
    }
