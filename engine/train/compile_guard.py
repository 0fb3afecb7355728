"""hardware.compile for a run: decide (auto compiles on CUDA, and on the CPU for long runs, or shorter ones whose
shape this workspace compiled before: engine/compile_record.py), compile each block, and run one real step at once,
so that a compiler that fails here (no C++ toolchain, an op it cannot lower) is found before training; the run then
says why in a warning and continues uncompiled. Knows nothing about the loop.
"""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import time
from collections.abc import Callable

import torch

from engine import compile_record
from engine.device_auto import compile_enabled, compile_reason
from engine.errors import UserError
from engine.estimate import planned_flops
from engine.events import EventSink
from engine.hardware import Runtime
from engine.model.apply import apply_compile, remove_compile
from engine.train.autobatch import step_probe
from engine.train.setup import RunParts
from engine.train.stage import Stage


def compile_model(parts: RunParts, rt: Runtime, sink: EventSink, backend: str | Callable = "inductor") -> bool:
    """Compile the policy's blocks when hardware.compile says so; True when the model now runs compiled."""
    mode, workspace = parts.cfg.hardware.compile, parts.ctx.workspace
    run_flops = planned_flops(parts.cfg, vocab_size=parts.model.cfg.vocab_size)
    key = compile_record.compile_key(parts.cfg, rt.precision, parts.model.cfg.vocab_size)
    warm = compile_record.warm_record(workspace, key) is not None
    if mode == "auto" and rt.device.type == "cpu":
        sink.log(f"torch.compile (auto) {compile_reason(rt.device, run_flops, warm)}")
    if not compile_enabled(mode, rt.device, run_flops, warm):
        return False
    if type(parts.stage).batches is Stage.batches:  # PPO, GRPO: no offline batch for the probe step to draw
        sink.log(f"torch.compile is skipped: the {parts.cfg.stage.name} stage's batches come from rollouts of the "
                 "policy, which the compile's probe step cannot draw; the run stays eager")
        return False
    if parts.cfg.optim.name == "sophia":  # its Hessian steps differentiate the gradient; compiled graphs cannot
        sink.log("torch.compile is skipped: optim.name sophia needs a second derivative that compile lacks")
        return False
    model = parts.model
    sink.log("torch.compile: compiling the model's blocks before the first step (about a minute, longer on a busy "
             "machine); stop or Ctrl-C ends the run")  # the line before said 'compiled': say that it is under way
    compile_record.use_workspace_cache(workspace)
    t0 = time.perf_counter()
    try:
        apply_compile(model, eager_outside_training=rt.device.type == "cpu", backend=backend)
        # One step, undone, at the run's own micro-batch: it compiles the forward and backward the steps will run
        # (a probe of one sequence compiled a batch-1 graph, and the first step compiled again for its batch).
        step_probe(parts, rt, budget=2**62)(probe_batch(parts.cfg))
    except Exception as e:  # noqa: BLE001 - any compiler failure; eager mode still works
        uncompile(model)
        sink.log(f"torch.compile {failure(e)}; training continues without it", "warning")
        return False
    seconds = time.perf_counter() - t0
    sink.log(f"torch.compile ({'auto' if mode == 'auto' else 'on'}): the model's blocks are compiled "
             f"({seconds:.0f} s{', from the cache of an earlier compile' if warm else ''})")
    # A record claims inductor's cached CPU graphs (it only serves auto's CPU rule): only a real compile leaves them.
    if backend == "inductor" and rt.device.type == "cpu":
        try:
            compile_record.remember(workspace, key, seconds, f"{parts.cfg.model.preset or 'custom'} model, "
                                    f"{parts.cfg.stage.name}, micro-batch {parts.cfg.run.batch_size}, {rt.precision}")
        except (OSError, UserError) as e:  # the run goes on; the next one judges its compile as cold
            sink.log(f"the compile could not be recorded in the workspace ({e}); the next run judges it cold",
                     "warning")
    return True


def settle_choice(parts: RunParts, compiled: bool) -> RunParts:
    """hardware.compile: auto becomes what it decided (on / off) before run.yaml is written, as run.batch_size: auto
    becomes a number: a resume then runs the same kernels (compiled and eager ones differ in the last digits)
    instead of deciding again from a workspace record written since, or from a longer run.max_steps."""
    if parts.cfg.hardware.compile != "auto":
        return parts
    hardware = dataclasses.replace(parts.cfg.hardware, compile="on" if compiled else "off")
    return dataclasses.replace(parts, cfg=dataclasses.replace(parts.cfg, hardware=hardware))


def probe_batch(cfg) -> int:
    """The micro-batch the training steps will have: run.batch_size, or 1 before an auto search (which then
    tries growing sizes, and dynamo's second graph takes the batch as a dynamic size)."""
    return 1 if cfg.run.auto_batch else int(cfg.run.batch_size)


def failure(e: BaseException) -> str:
    """'failed (why)', or 'was interrupted' when the compiler process died of a signal: Ctrl-C in a terminal reaches
    the compiler's g++ too, and a stopped run should not read as a broken toolchain."""
    inner = e
    while (nxt := getattr(inner, "inner_exception", None) or inner.__cause__) is not None:
        inner = nxt
    if isinstance(inner, subprocess.CalledProcessError) and inner.returncode < 0:
        try:
            name = signal.Signals(-inner.returncode).name
        except ValueError:
            name = f"signal {-inner.returncode}"
        return f"was interrupted ({name} reached the C++ compiler)"
    return f"failed ({root_cause(e)})"


def root_cause(e: BaseException) -> str:
    """'Type: first line' of the innermost error: dynamo wraps the compiler's own in BackendCompilerFailed."""
    while (inner := getattr(e, "inner_exception", None) or e.__cause__) is not None:
        e = inner
    line = (str(e).strip().splitlines() or [""])[0][:300]
    return f"{type(e).__name__}: {line}" if line else type(e).__name__


def uncompile(model: torch.nn.Module) -> None:
    """Back to eager: drop what apply_compile set and dynamo's caches."""
    remove_compile(model)
    torch._dynamo.reset()
