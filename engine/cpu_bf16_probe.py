"""Does bf16 autocast pay on this CPU? Asked of the chip itself, once.

A CPU with AMX multiplies bf16 on its tiles and bf16 always wins there. With AVX512-BF16 alone it depends on the chip:
a training step measured 1.33x (tiny) and 1.69x (small) faster than fp32 on a 2-core AMD EPYC, but 0.70x and 0.79x
on a 2-core Xeon, where autocast's casts cost more than the bf16 products save (both torch 2.13). So `auto` times the
work that matters, a linear layer's forward and backward at a small model's widths, in fp32 and under bf16 autocast,
in turns, best of several, in one thread's CPU seconds (wall time on a shared machine is noise); bf16 is chosen when it
is at least WIN times faster. The answer is cached per CPU model and torch version in the workspace root (PROBE_FILE),
so each machine pays the probe (~0.3 s idle, ~1 s under heavy load) once.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from engine.diskio import atomic_write_text
from engine.errors import UserError

PROBE_FILE = "cpu_bf16_probe.json"
WIN = 1.1       # bf16 must be clearly faster: below this the difference is within run-to-run noise on a busy machine
ROWS, WIDTH, HIDDEN = 256, 512, 1376   # a block of rows through the small preset's MLP widths


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown")
    except OSError:
        return "unknown"


def measure(repeats: int = 5) -> float:
    """fp32 over bf16-autocast CPU seconds for linear forward + backward (best of `repeats`, taken in turns)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(ROWS, WIDTH, generator=gen)
    w1 = torch.randn(HIDDEN, WIDTH, generator=gen, requires_grad=True)
    w2 = torch.randn(WIDTH, HIDDEN, generator=gen, requires_grad=True)

    def step(bf16: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = torch.nn.functional.linear(torch.nn.functional.linear(x, w1).relu(), w2)
        y.float().sum().backward()
        w1.grad = w2.grad = None

    best = {False: float("inf"), True: float("inf")}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread's CPU seconds: steady even when other jobs share the cores
    try:
        for bf16 in (False, True):  # warm-up: oneDNN picks and caches its kernels on first use
            step(bf16)
        for _ in range(repeats):
            for bf16 in (False, True):
                t0 = time.process_time()
                step(bf16)
                best[bf16] = min(best[bf16], time.process_time() - t0)
    finally:
        torch.set_num_threads(threads)
    return best[False] / best[True]


def bf16_speedup(root: Path | None) -> float:
    """This CPU's measured bf16 speed-up, from the cache in `root` (a workspace root) or measured and cached."""
    key = f"{cpu_model()}|torch {torch.__version__}"
    cache = root / PROBE_FILE if root is not None else None
    data: dict = {}
    if cache is not None:
        try:
            data = json.loads(cache.read_text(encoding="utf-8"))
            if isinstance(data, dict) and isinstance(data.get(key), (int, float)):
                return float(data[key])
        except (OSError, ValueError):
            data = {}   # missing or damaged: measure again
        if not isinstance(data, dict):
            data = {}
    speedup = measure()
    if cache is not None:
        data[key] = round(speedup, 3)
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(cache, json.dumps(data, indent=1), "the CPU's bf16 probe")
        except (OSError, UserError):
            pass        # a read-only or full home: the answer is still right for this process
    return speedup
