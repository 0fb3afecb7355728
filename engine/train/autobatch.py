"""run.batch_size: auto. Real forward + backward steps are tried at micro-batches 1, 2, 4, ... until one does not
fit within hardware.memory_fraction of the device's memory, then the gap is bisected; grad_accum is then set so
an optimizer step holds the global batch asked for (run.global_batch_tokens), or run.grad_accum micro-batches.

"Fits" is measured, per device:
  CUDA  torch's peak-allocation counter over the step, plus the AdamW moments (8 bytes a trainable parameter, not
        allocated before the first optimizer step); a torch.OutOfMemoryError is a no.
  MPS   the Metal driver's allocation after the backward pass plus the moments; OutOfMemoryError is a no.
  CPU   nothing raises when RAM runs out (the OS kills the process), so the budget is simulated: peak = resident
        memory before the search + gradients and moments (12 bytes a trainable parameter) + every tensor autograd
        saved for the backward pass (a saved-tensors hook adds up their storages) + the largest of them once more
        (the backward holds its gradient beside it). Above the budget counts as out of memory.
The weights, gradients and RNG state are as they were after each try. Knows nothing about the loop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil
import torch

from engine.device_auto import AUTO_BATCH_CEILING, memory_budget
from engine.errors import UserError
from engine.events import EventSink
from engine.hardware import Runtime
from engine.train.setup import RunParts

GIB = 2**30


@dataclass
class Probe:
    batch: int
    fits: bool
    peak: int | None        # bytes; None when the step ran out of memory outright
    seconds: float


@functools.cache
def baseline_rss() -> int:
    """The process's resident memory when its first search began (weights, data maps, libraries): read once, so
    that every try, and every search in the process, is measured against the same floor."""
    return psutil.Process().memory_info().rss


def largest_fitting(try_batch: Callable[[int], Probe], limit: int) -> tuple[int, list[Probe]]:
    """(largest micro-batch <= limit that fits, or 0; the probes in the order tried): doubling from 1 until a size
    does not fit (or the limit is reached), then bisecting between the last fit and the first miss."""
    probes: list[Probe] = []

    def fits(b: int) -> bool:
        probes.append(try_batch(b))
        return probes[-1].fits

    lo, hi, b = 0, limit + 1, 1          # lo fits (0 trivially), hi does not
    while True:
        if not fits(b):
            hi = b
            break
        lo = b
        if b >= limit:
            break
        b = min(2 * b, limit)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo, probes


def split_global(found: int, global_seqs: int) -> tuple[int, int]:
    """(micro-batch, grad_accum) for a global batch of global_seqs sequences: the largest divisor of it that is
    not above the largest micro-batch found to fit, so that micro x accum is the global batch exactly."""
    micro = max(d for d in range(1, min(found, global_seqs) + 1) if global_seqs % d == 0)
    return micro, global_seqs // micro


class StepProbe:
    """try_batch for largest_fitting: one real training step's forward and backward at micro-batch b, measured
    (see the module docstring), then undone. `loss_fn(batch)` gives (summed loss, units) as the stage's loss does."""

    def __init__(self, modules: list[torch.nn.Module], make_batch: Callable[[int], dict],
                 loss_fn: Callable[[dict], tuple[torch.Tensor, torch.Tensor]], device: torch.device, budget: int,
                 autocast: Callable = contextlib.nullcontext):
        self.modules, self.make_batch, self.loss_fn = modules, make_batch, loss_fn
        self.device, self.budget, self.autocast = device, budget, autocast
        trainable = sum(p.numel() for m in modules for p in m.parameters() if p.requires_grad)
        self.moments = 8 * trainable                   # AdamW exp_avg + exp_avg_sq, fp32
        self.grads = 4 * trainable
        self.baseline = baseline_rss() if device.type == "cpu" else 0
        self._param_storages = {p.untyped_storage().data_ptr() for m in modules for p in m.parameters()}

    def __call__(self, b: int) -> Probe:
        t0 = time.perf_counter()
        rng = torch.get_rng_state()
        cuda_rng = torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None
        saved: dict[int, int] = {}
        peak: int | None = None
        try:
            batch = self.make_batch(b)
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
                torch.cuda.reset_peak_memory_stats(self.device)
            hooks = (torch.autograd.graph.saved_tensors_hooks(self._counter(saved), lambda t: t)
                     if self.device.type == "cpu" else contextlib.nullcontext())
            with hooks, self.autocast():
                loss, units = self.loss_fn(batch)
            (loss / units.clamp(min=1).to(torch.float32)).backward()
            peak = self._peak(saved)
        except torch.OutOfMemoryError:
            peak = None
        finally:
            batch = loss = None
            for m in self.modules:
                for p in m.parameters():
                    p.grad = None
            torch.set_rng_state(rng)
            if cuda_rng is not None:
                torch.cuda.set_rng_state(cuda_rng, self.device)
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            elif self.device.type == "mps":
                torch.mps.empty_cache()
        fits = peak is not None and peak <= self.budget
        return Probe(b, fits, peak, time.perf_counter() - t0)

    def _counter(self, saved: dict[int, int]):
        def pack(t: torch.Tensor) -> torch.Tensor:
            storage = t.untyped_storage()
            ptr = storage.data_ptr()
            if ptr not in self._param_storages:       # weights are in the baseline already
                saved[ptr] = storage.nbytes()
            return t
        return pack

    def _peak(self, saved: dict[int, int]) -> int:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) + self.moments
        if self.device.type == "mps":
            return torch.mps.driver_allocated_memory() + self.moments
        held = sum(saved.values())
        return self.baseline + self.grads + self.moments + held + max(saved.values(), default=0)


def step_probe(parts: RunParts, rt: Runtime, budget: int) -> StepProbe:
    """A StepProbe over the run's own stage: its batches (in file order) and its loss, on the policy and the
    stage's trainable modules."""
    stage, cfg = parts.stage, parts.cfg

    def make_batch(b: int) -> dict:
        one = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, batch_size=b, grad_accum=1,
                                                               global_batch_tokens=0))
        batches = stage.batches(parts.train_set, parts.train_items, one, parts.tok, shuffle=False)
        return {k: v.to(rt.device) if isinstance(v, torch.Tensor) else v for k, v in next(batches).items()}

    def loss_fn(batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        return stage.loss(parts.model, batch)[0], torch.as_tensor(stage.count_units(batch), device=rt.device)

    modules = [parts.model, *stage.trainable().values()]
    return StepProbe(modules, make_batch, loss_fn, rt.device, budget, rt.autocast)


def fit_batch(parts: RunParts, rt: Runtime, sink: EventSink, budget: int | None = None) -> RunParts:
    """Resolve run.batch_size: auto for this run (a number is left as it is): probe, choose, say so, and put the
    chosen micro-batch and accumulation into parts.cfg (so run.yaml and the config event hold the numbers).
    `budget` (bytes) replaces hardware.memory_fraction's share of the device (tests simulate a small device)."""
    cfg = parts.cfg
    if not cfg.run.auto_batch:
        return parts
    t = cfg.data.seq_len
    global_seqs = cfg.run.global_batch_tokens // t if cfg.run.global_batch_tokens else 0
    ceiling = AUTO_BATCH_CEILING.get(rt.device.type, AUTO_BATCH_CEILING["cpu"])
    limit = max(1, min(ceiling, global_seqs or ceiling, len(parts.train_items)))
    budget = budget or memory_budget(rt.device, cfg.hardware.memory_fraction)
    probe = step_probe(parts, rt, budget)
    accum_default = cfg.run.grad_accum

    def try_batch(b: int) -> Probe:
        p = probe(b)
        used = "out of memory" if p.peak is None else f"{p.peak / GIB:.2f} GiB"
        sink.emit("batch", phase="probe", micro_batch=b, grad_accum=accum_default, fits=p.fits, peak_bytes=p.peak,
                  budget_bytes=budget, message=f"auto batch size: micro-batch {b} needs {used} of "
                  f"{budget / GIB:.2f} GiB: {'fits' if p.fits else 'too big'} ({p.seconds:.1f} s)")
        return p

    found, probes = largest_fitting(try_batch, limit)
    if found == 0:
        need = probes[0].peak
        needs = f"~{need / GIB:.2f} GiB" if need else "more than is free"
        raise UserError(f"run.batch_size: auto found no micro-batch that fits: one sequence needs {needs}, and "
                        f"hardware.memory_fraction {cfg.hardware.memory_fraction} allows {budget / GIB:.2f} GiB",
                        "lower data.seq_len, set hardware.grad_checkpointing=true, pick a smaller model, or raise "
                        "hardware.memory_fraction", kind="memory")
    micro, accum = split_global(found, global_seqs) if global_seqs else (found, accum_default)
    parts.cfg = parts.ctx.cfg = cfg.with_batch(micro, accum)
    sink.emit("batch", phase="chosen", micro_batch=micro, grad_accum=accum, budget_bytes=budget,
              message=f"auto batch size: micro-batch {micro} x grad_accum {accum} = {micro * accum * t:,} tokens "
                      f"per step (the largest that fits is {found}{'+' if found == limit else ''}, searched up to "
                      f"{limit}; {len(probes)} tries)")
    return parts
