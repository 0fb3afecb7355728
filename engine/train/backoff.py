"""Out-of-memory back-off mid-run. When a step's forward or backward runs out of device memory, the step is undone
(gradients cleared, token count and RNG put back) and repeated with each of its micro-batches split in two: half
the micro-batch, twice the accumulation, the same sequences in the same optimizer step. Since the loop divides
every micro-batch's summed loss by the whole step's units, the step's loss and update are those of the original
split, up to float rounding. It is said in a `batch` event (phase backoff); a micro-batch of one that still does
not fit is the run's out-of-memory error.

Test hook: MINIGPT_INJECT_OOM=N raises torch.OutOfMemoryError in the forward pass of step N's last micro-batch,
once, after the earlier micro-batches' backward passes have left gradients behind.
"""

from __future__ import annotations

import math
import os
import random
from typing import TYPE_CHECKING

import torch

from engine.events import EventSink

if TYPE_CHECKING:
    from engine.train.loop import Trainer

INJECT_ENV = "MINIGPT_INJECT_OOM"


class Backoff:
    """How many parts each drawn micro-batch is split into (1, 2, 4, ...); the data loader is never touched, so
    the data order and a resume's cursor stay those of the configured batch size."""

    def __init__(self, batch_size: int, grad_accum: int, sink: EventSink):
        self.batch_size, self.grad_accum, self.sink = batch_size, grad_accum, sink
        self.splits = 1
        self.inject_at = int(os.environ.get(INJECT_ENV, "0") or 0)

    @property
    def micro_batch(self) -> int:
        return math.ceil(self.batch_size / self.splits)

    def accumulate(self, trainer: Trainer, batches: list[dict]) -> tuple[torch.Tensor, dict]:
        """trainer.accumulate over the step's micro-batches, split as far as memory needs."""
        while True:
            parts = [p for b in batches for p in trainer.stage.split_batch(b, self.splits)]
            tokens, rng = trainer.tokens_seen, (torch.get_rng_state(), random.getstate())
            device = trainer.rt.device
            cuda_rng = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
            hook = self._inject(trainer, len(parts))
            try:
                return trainer.accumulate(parts)
            except torch.OutOfMemoryError:
                if self.micro_batch <= 1:
                    raise
            finally:
                if hook is not None:
                    hook.remove()
            # Out of the except block, so the failed attempt's frames (and the activations they hold) are freed.
            parts = None
            trainer.optimizer.zero_grad(set_to_none=True)
            trainer.tokens_seen = tokens
            torch.set_rng_state(rng[0])
            random.setstate(rng[1])
            if cuda_rng is not None:
                torch.cuda.set_rng_state(cuda_rng, device)
                torch.cuda.empty_cache()
            elif device.type == "mps":
                torch.mps.empty_cache()
            self._halve(trainer.step + 1)

    def _halve(self, step: int) -> None:
        before, accum_before = self.micro_batch, self.grad_accum * self.splits
        self.splits *= 2
        accum = self.grad_accum * self.splits
        self.sink.emit("batch", phase="backoff", micro_batch=self.micro_batch, grad_accum=accum, step=step,
                       message=f"out of memory at step {step} with micro-batch {before} x {accum_before}: "
                               f"continuing with micro-batch {self.micro_batch} x {accum}, the same "
                               f"{self.batch_size * self.grad_accum} sequences per step; step {step} is repeated")

    def _inject(self, trainer: Trainer, n_parts: int):
        """The test hook (see the module docstring): a forward pre-hook that raises on the step's last part."""
        if self.inject_at != trainer.step + 1:
            return None
        self.inject_at = 0
        calls = [0]

        def pre_hook(module, args):
            calls[0] += 1
            if calls[0] == n_parts:
                raise torch.OutOfMemoryError(f"{INJECT_ENV}: simulated out of memory at step {trainer.step + 1}")

        return trainer.model.register_forward_pre_hook(pre_hook)
