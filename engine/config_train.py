"""The `optim:`, `hardware:` and `run:` sections: how the weights are updated, where, and for how long."""

from __future__ import annotations

from dataclasses import dataclass

from engine.config_base import _require, knob

OPTIMIZERS = ("adamw", "lion", "schedulefree_adamw", "muon", "sophia")
SCHEDULES = ("cosine", "linear", "wsd", "constant")


@dataclass(kw_only=True)
class OptimConfig:
    name: str = knob("adamw", "Optimizer: adamw, lion, schedulefree_adamw, muon (AdamW on embeddings, head and "
                     "norms) or sophia (SophiaH, a Hessian estimate every optim.hessian_every steps).")
    lr: float = knob(3e-3, "Peak learning rate (AdamW's; muon's matrices take 3x it, lion and sophia a third of "
                     "it, see docs/ENGINE.md).")
    min_lr_ratio: float = knob(0.1, "Final learning rate as a share of lr.")
    weight_decay: float = knob(0.1, "AdamW weight decay (not applied to norms and embeddings).")
    beta1: float = knob(0.9, "AdamW beta1 (momentum).")
    beta2: float = knob(0.95, "AdamW beta2 (second-moment decay).")
    eps: float = knob(1e-8, "AdamW epsilon.")
    warmup_steps: int = knob(50, "Steps of linear warm-up from 0 to lr.")
    schedule: str = knob("cosine", "Schedule after warm-up: cosine, linear, wsd (warmup-stable-decay) or constant.")
    decay_fraction: float = knob(0.2, "For wsd: the final share of steps over which lr decays.")
    grad_clip: float = knob(1.0, "Clip the global gradient norm to this (0 = off).")
    hessian_every: int = knob(10, "For sophia: steps between Hessian-diagonal estimates (each costs about one "
                              "more backward pass).")

    def __post_init__(self) -> None:
        _require(self.name in OPTIMIZERS, "optim.name", f"unknown optimizer {self.name!r}",
                 "use " + ", ".join(OPTIMIZERS))
        _require(0 < self.lr < float("inf"), "optim.lr", f"must be positive and finite, got {self.lr}",
                 "typical values: 1e-4 .. 3e-3")
        _require(0.0 <= self.min_lr_ratio <= 1.0, "optim.min_lr_ratio", "must be in [0, 1]")
        _require(self.weight_decay >= 0, "optim.weight_decay", "must be >= 0")
        _require(0.0 <= self.beta1 < 1.0, "optim.beta1", "must be in [0, 1)")
        _require(0.0 <= self.beta2 < 1.0, "optim.beta2", "must be in [0, 1)")
        _require(self.eps > 0, "optim.eps", "must be positive")
        _require(self.warmup_steps >= 0, "optim.warmup_steps", "must be >= 0")
        _require(self.schedule in SCHEDULES, "optim.schedule", f"unknown schedule {self.schedule!r}",
                 "use " + ", ".join(SCHEDULES))
        _require(0.0 < self.decay_fraction <= 1.0, "optim.decay_fraction", "must be in (0, 1]")
        _require(self.grad_clip >= 0, "optim.grad_clip", "must be >= 0")
        _require(self.hessian_every > 0, "optim.hessian_every", "must be positive")


COMPILE_MODES = ("auto", "on", "off")
LEGACY_VALUES = {"hardware.compile": {True: "on", False: "off"}}  # old `compile: true/false` files read forward


MAX_THREADS = 1024   # hardware.threads' upper bound

@dataclass(kw_only=True)
class HardwareConfig:
    device: str = knob("auto", "Where to train: auto, cpu, cuda, cuda:N or mps.")
    precision: str = knob("auto", "auto (bf16 where the chip has it, fp16 on older GPUs, else fp32), bf16, fp16, fp32.")
    compile: str = knob("auto", "torch.compile the model: auto (on for CUDA GPUs; on a CPU for long runs, or shorter "
                        "ones whose model shape this workspace compiled before; off on Apple GPUs), on or off. If "
                        "compiling fails the run says so and continues uncompiled.")
    grad_checkpointing: bool = knob(False, "Recompute activations in the backward pass: less memory, ~30% slower.")
    threads: int = knob(0, "CPU threads for torch; 0 keeps torch's default.")
    tf32: bool = knob(True, "Allow TF32 matmuls on NVIDIA GPUs (faster, tiny precision cost).")
    memory_fraction: float = knob(0.9, "Share of the device's memory (RAM on the CPU) that run.batch_size: auto may "
                                  "plan for; the rest is headroom.")
    parallel: str = knob("none", "Across several processes (torchrun, --nproc N): ddp (a full copy per process) or "
                         "fsdp (weights and optimizer sharded); none = one process.")

    def __post_init__(self) -> None:
        indexed_cuda = self.device.startswith("cuda:") and self.device[5:].isdigit()
        ok = self.device in ("auto", "cpu", "cuda", "mps") or indexed_cuda
        _require(ok, "hardware.device", f"unknown device {self.device!r}", "use auto, cpu, cuda, cuda:0 or mps")
        _require(self.precision in ("auto", "bf16", "fp16", "fp32"), "hardware.precision",
                 f"unknown precision {self.precision!r}", "use auto, bf16, fp16 or fp32")
        # a cap far above any CPU's cores: 100000 threads ran into the process limit and crashed in native code
        _require(0 <= self.threads <= MAX_THREADS, "hardware.threads",
                 f"must be between 0 and {MAX_THREADS}, got {self.threads}",
                 "0 keeps torch's default (one per core); more threads than cores only slow a run down")
        _require(self.compile in COMPILE_MODES, "hardware.compile", f"unknown mode {self.compile!r}",
                 "use auto, on or off")
        _require(0.0 < self.memory_fraction <= 1.0, "hardware.memory_fraction",
                 f"must be in (0, 1], got {self.memory_fraction}", "e.g. 0.9 leaves a tenth as headroom")
        _require(self.parallel in ("none", "ddp", "fsdp"), "hardware.parallel",
                 f"unknown parallel mode {self.parallel!r}", "use none, ddp or fsdp")


@dataclass(kw_only=True)
class RunConfig:
    name: str = knob("", "Short name added to the run folder's name.")
    seed: int = knob(0, "Seed for init, data order and sampling; the same seed repeats a run exactly on CPU.")
    max_steps: int = knob(1000, "Optimizer steps to train for.")
    batch_size: int | str = knob(16, "Sequences per micro-batch, or auto: the largest that fits within "
                                 "hardware.memory_fraction, found by trying real steps before the run.")
    grad_accum: int = knob(1, "Micro-batches accumulated per optimizer step (tokens/step = batch x accum x seq_len).")
    global_batch_tokens: int = knob(0, "Tokens per optimizer step; when set, grad_accum is derived from it "
                                    "(batch x accum x seq_len must equal it). 0 = not set.")
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
        if isinstance(self.batch_size, str) and self.batch_size.strip().isdigit():
            self.batch_size = int(self.batch_size)
        _require(self.batch_size == "auto" or not isinstance(self.batch_size, str), "run.batch_size",
                 f"must be a whole number or auto, got {self.batch_size!r}", "e.g. 16, or auto to fill the memory")
        _require(self.global_batch_tokens >= 0, "run.global_batch_tokens",
                 f"must be >= 0, got {self.global_batch_tokens}", "0 leaves it unset")
        for name in ("max_steps", "grad_accum", "log_every", "max_nonfinite_steps",
                     *(("batch_size",) if self.batch_size != "auto" else ())):
            _require(getattr(self, name) > 0, f"run.{name}", f"must be positive, got {getattr(self, name)}")
        for name in ("eval_every", "eval_batches", "checkpoint_every", "keep_last", "task_eval_items", "sample_tokens"):
            _require(getattr(self, name) >= 0, f"run.{name}", f"must be >= 0, got {getattr(self, name)}")
        _require(0 <= self.seed < 2**32, "run.seed", f"must be a whole number from 0 to {2**32 - 1}, got {self.seed}",
                 "e.g. --seed 1234")

    @property
    def auto_batch(self) -> bool:
        return self.batch_size == "auto"

    @property
    def micro_batch(self) -> int:
        """The micro-batch a figure can be computed from: the number, or before an auto search has run, the
        default (estimates only; the run replaces auto by what it found)."""
        return AUTO_ESTIMATE_BATCH if self.auto_batch else int(self.batch_size)


AUTO_ESTIMATE_BATCH = 16   # what estimates assume for run.batch_size: auto before the search has run
