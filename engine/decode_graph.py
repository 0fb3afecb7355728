"""One-token decode steps replayed from a CUDA graph. At batch 1 a small model's step is a few hundred tiny kernels,
and launching them from Python takes far longer than running them; a CUDA graph records the launches once and replays
them with one call. A graph fixes every shape and address, so the step is FastStep's static form: the keys are the
whole cache (the model's max_seq_len), the position is a device scalar, and a mask hides the slots not yet written.

Used by SampledDecoding on CUDA for batches of up to MAX_BATCH rows of a plain GPT (what FastStep runs, MoE aside:
its routing has data-dependent shapes). Any failure to capture falls back to FastStep for that generator.
"""

from __future__ import annotations

import weakref

import torch

from engine.model.gpt import GPT, KVCache
from engine.model.moe import MoE

MAX_BATCH = 8  # caches of max_seq_len per batch size are kept: beyond a few rows a step is no longer launch-bound


class GraphedStep:
    """The decode step of one model for one batch size, with its own caches of the model's full length.

    Call `prepare(valid)` when a generation starts (before its prefill fills `caches`), then `__call__` per token.
    The logits it returns are a copy; the graph's own output buffer is overwritten by the next replay.
    """

    def __init__(self, fast, batch: int):
        model: GPT = fast.model
        self.fast, self.batch = fast, batch
        dev, length = model.embed.weight.device, model.cfg.max_seq_len
        self.caches: list[KVCache] = model.new_caches(batch, length)
        self.tokens = torch.zeros(batch, dtype=torch.long, device=dev)
        self.pos = torch.zeros((), dtype=torch.long, device=dev)
        self.valid = torch.ones(batch, 1, 1, length, dtype=torch.bool, device=dev)   # False on left padding
        self.slots = torch.arange(length, device=dev)
        self.weights = param_addresses(model)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.logits: torch.Tensor | None = None
        self.owner: weakref.ref | None = None  # the generation using the caches; one at a time

    def reserve(self, decoding: object) -> bool:
        holder = self.owner() if self.owner is not None else None
        if holder is not None and holder is not decoding:
            return False
        self.owner = weakref.ref(decoding)
        return True

    def release(self, decoding: object) -> None:
        if self.owner is not None and self.owner() is decoding:
            self.owner = None

    @staticmethod
    def applies_to(model: torch.nn.Module, batch: int) -> bool:
        return (torch.cuda.is_available() and model.embed.weight.device.type == "cuda" and batch <= MAX_BATCH
                and not any(isinstance(b.mlp, MoE) for b in model.blocks))

    def prepare(self, valid: torch.Tensor) -> None:
        """valid: (B, n) bool, False where a row is left padding; slots past n stay True (the causal mask hides
        them until they are written)."""
        self.valid.fill_(True)
        self.valid[:, 0, 0, :valid.shape[1]] = valid

    def step(self) -> torch.Tensor:
        """The recorded computation: the new token's logits (B, V) at `pos`, attending to slots 0..pos."""
        mask = self.valid & (self.slots <= self.pos)                                    # (B, 1, 1, S)
        # In the weights' own precision: autocast's cast cache and graphs do not mix.
        with torch.autocast(self.tokens.device.type, enabled=False):
            return self.fast(self.tokens, self.caches, self.pos, mask)                  # (B, V)

    def __call__(self, tokens: torch.Tensor, pos: int) -> torch.Tensor:
        self.tokens.copy_(tokens, non_blocking=True)
        self.pos.fill_(pos)
        if self.graph is None or self.weights != param_addresses(self.fast.model):  # weights moved: record anew
            self.capture()
        self.graph.replay()
        return self.logits.clone()

    def capture(self) -> None:
        """Warm up on a side stream (as CUDA graphs require), then record one step. The warm-up steps write the
        same keys and values at the same position as the replay will, so they change nothing."""
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):
                self.step()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.logits = self.step()
        self.graph, self.weights = graph, param_addresses(self.fast.model)


def param_addresses(model: torch.nn.Module) -> tuple[int, ...]:
    """Where each weight lives: a graph reads these addresses, so a moved or replaced weight needs a new graph.
    Updates in place (an optimizer step, load_state_dict) keep them and are seen by the next replay."""
    return tuple(p.data_ptr() for p in model.parameters())
