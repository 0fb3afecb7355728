"""Rollouts for the RL stages: the prompts (with their reference answers), sampling completions of the live policy
with the engine's KV-cache generator, padded training rows with reply masks, per-token log-probs, and the iterator
that hands one rollout batch to the shared loop ppo_epochs times, resumable exactly.

It knows nothing about advantages or losses: ppo.py and grpo.py turn a rollout into those.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.data import formats
from engine.generate import Completion, Generator, SamplingParams
from engine.model.cross_entropy import IGNORE
from engine.tokenizer import Tokenizer
from engine.train import losses


@dataclass
class Prompt:
    messages: list[dict]           # turns ending with the user's
    answer: str | None             # reference answer for rule rewards
    task: str                      # task family (built-in data), "" otherwise
    ids: list[int]                 # chat-template ids ending with the assistant header


def load_prompts(paths: list[Path], encoding: str, tok: Tokenizer, max_len: int) -> list[Prompt]:
    """Every rl_prompt record of `paths`, in file order (the order pretokenize numbers them). A prompt longer than
    max_len keeps its last max_len tokens, so the reply still follows the assistant header."""
    out = []
    for path in paths:
        for rec in formats.iter_records(path, "rl_prompt", encoding=encoding):
            ids, _ = tok.encode_chat(rec["messages"], add_generation_prompt=True)
            answer = rec.get("answer")
            out.append(Prompt(rec["messages"], None if answer is None else str(answer), str(rec.get("task", "")),
                              ids[-max_len:]))
    return out


def pick_prompts(items: np.ndarray, index: int, n: int, seed: int) -> list[int]:
    """The n prompt indices of rollout `index`: consecutive slices of a stream of shuffled passes over `items`,
    each pass shuffled by (seed, pass), so any rollout is found again from its index alone."""
    start, out = index * n, []
    while len(out) < n:
        epoch, offset = divmod(start + len(out), len(items))
        order = np.random.default_rng([seed, epoch]).permutation(len(items))
        out += [int(items[i]) for i in order[offset:offset + n - len(out)]]
    return out


def sample(gen: Generator, prompts: list[list[int]], max_new_tokens: int, temperature: float, seed: int | None
           ) -> list[Completion]:
    """One batch of completions; temperature 0 is greedy. The seed fixes the draw for exact resume."""
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
    return gen.complete(prompts, params)


def reply_ids(c: Completion, eos: int) -> list[int]:
    """The tokens the policy chose: the completion, plus the end-of-turn token when it stopped by itself."""
    return c.ids + ([eos] if c.finish_reason == "stop" else [])


def build_rows(prompts: list[list[int]], replies: list[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded next-token rows of prompt + reply: x (B, T) inputs, y (B, T) targets with IGNORE outside the
    reply, mask (B, T) 1.0 on reply targets. Padding is at the end, so causal attention never sees it."""
    seqs = [p + r for p, r in zip(prompts, replies, strict=True)]
    T = max(len(s) for s in seqs) - 1
    x = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    y = torch.full((len(seqs), T), IGNORE, dtype=torch.long)
    for i, (p, s) in enumerate(zip(prompts, seqs, strict=True)):
        x[i, :len(s) - 1] = torch.tensor(s[:-1])
        y[i, len(p) - 1:len(s) - 1] = torch.tensor(s[len(p):])                        # targets of reply tokens only
    return {"x": x, "y": y, "mask": (y != IGNORE).float()}


class HiddenTap:
    """Catches the policy's final-norm output (B, T, C) during a forward: a value head reads it without the model
    being changed. Used as `with tap: model(...)`, then `tap.hidden`."""

    def __init__(self, model: torch.nn.Module):
        self.model, self.hidden, self.handle = model, None, None

    def __enter__(self) -> HiddenTap:
        def keep(module, inputs, output):
            self.hidden = output
        self.handle = self.model.norm.register_forward_hook(keep)
        return self

    def __exit__(self, *exc) -> None:
        self.handle.remove()


def policy_logprobs(model: torch.nn.Module, batch: dict[str, torch.Tensor], temperature: float = 1.0):
    """(logits (B, T, V), log p of each target (B, T), 0 outside the reply, the MoE router stats or None).

    With a sampling temperature tau != 1 both are those of the distribution the rollout drew from, softmax(z / tau):
    PPO's ratio pi / pi_old and its KL to the reference must be taken on the policy that sampled, else the update
    treats samples of a sharpened policy as its own (the logits are divided by tau as in TRL's PPO trainer)."""
    logits, nll, router = model(batch["x"], batch["y"], reduction="none", return_aux=True)
    if temperature == 1.0:
        return logits, -nll, router
    logits = logits / temperature
    return logits, losses.token_logprobs(logits, batch["y"]), router


@torch.no_grad()
def frozen_logprobs(model: torch.nn.Module, batch: dict[str, torch.Tensor], autocast=contextlib.nullcontext,
                    temperature: float = 1.0) -> torch.Tensor:
    with autocast():
        return policy_logprobs(model, batch, temperature)[1].float()


class RolloutBatches:
    """The RL stages' training iterator: `make(index)` returns rollout number `index` as a list of micro-batches
    (one optimizer step's worth); each is handed out once per pass, for `epochs` passes, or fewer when
    `stop_early()` (read at a pass boundary, after the previous step's losses) says the policy moved far enough.

    Its state holds the rollout in progress itself (the policy that sampled it is gone after the first update),
    so a resume continues mid-rollout exactly."""

    def __init__(self, make: Callable[[int], list[dict]], epochs: int, stop_early: Callable[[], bool]):
        self.make, self.epochs, self.stop_early = make, epochs, stop_early
        self.index, self.epoch, self.pos = 0, 0, 0
        self.current: list[dict] | None = None
        self.early_stops = 0

    def __iter__(self) -> RolloutBatches:
        return self

    def __next__(self) -> dict:
        if self.current is None or self.pos == len(self.current):
            more = self.current is not None and self.epoch + 1 < self.epochs
            if more and self.stop_early():
                more, self.early_stops = False, self.early_stops + 1
            if more:
                self.epoch, self.pos = self.epoch + 1, 0
            else:
                self.current, self.epoch, self.pos = self.make(self.index), 0, 0
                self.index += 1
        batch = self.current[self.pos]
        self.pos += 1
        return batch

    @property
    def epoch_progress(self) -> float:
        """Rollout batches begun, the loop's `epoch` field for the RL stages."""
        return float(self.index)

    def state_dict(self) -> dict:
        return {"index": self.index, "epoch": self.epoch, "pos": self.pos, "early_stops": self.early_stops,
                "current": [{k: v.cpu() for k, v in b.items()} for b in self.current or []]}

    def load_state_dict(self, state: dict) -> None:
        self.index, self.epoch, self.pos = int(state["index"]), int(state["epoch"]), int(state["pos"])
        self.early_stops = int(state.get("early_stops", 0))
        self.current = [dict(b) for b in state["current"]] or None
