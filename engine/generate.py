"""Batched generation with a preallocated KV cache: greedy, temperature, top-k, top-p, min-p, repetition penalty,
stop tokens and stop strings, seeded sampling, and streaming by callback.

The generator works on token ids and knows nothing about chat templates; callers render chats first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from engine.model.gpt import GPT


@dataclass
class SamplingParams:
    max_new_tokens: int = 64
    temperature: float = 1.0          # 0 = greedy
    top_k: int = 0                    # 0 = off
    top_p: float = 1.0                # 1 = off
    min_p: float = 0.0                # 0 = off
    repetition_penalty: float = 1.0   # 1 = off
    seed: int | None = None
    stop_strings: list[str] = field(default_factory=list)

    @classmethod
    def greedy(cls, max_new_tokens: int = 64) -> SamplingParams:
        return cls(max_new_tokens=max_new_tokens, temperature=0.0)


def filter_logits(logits: torch.Tensor, p: SamplingParams) -> torch.Tensor:
    """Apply top-k, top-p and min-p to (B, V) float logits by setting the rest to -inf."""
    if p.top_k and p.top_k < logits.size(-1):
        kth = torch.topk(logits, p.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if p.min_p > 0:
        probs = logits.softmax(-1)
        logits = logits.masked_fill(probs < p.min_p * probs.max(-1, keepdim=True).values, float("-inf"))
    if p.top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        drop = cum - sorted_logits.softmax(-1) > p.top_p   # keep the smallest set whose mass reaches top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits


def penalise_repeats(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """CTRL-style repetition penalty: seen (B, V) bool; positive logits divided, negative multiplied."""
    if penalty == 1.0:
        return logits
    scaled = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, scaled, logits)


class Generator:
    """Generates from a GPT. `autocast` is a zero-arg callable returning a context (the runtime's precision)."""

    def __init__(self, model: GPT, stop_ids: list[int], pad_id: int, decode: Callable[[list[int]], str] | None = None,
                 autocast: Callable[[], contextlib.AbstractContextManager] | None = None):
        self.model, self.stop_ids, self.pad_id = model, list(stop_ids), pad_id
        self.decode = decode
        self.autocast = autocast or contextlib.nullcontext

    @property
    def device(self) -> torch.device:
        return self.model.embed.weight.device

    @torch.inference_mode()
    def generate(self, prompts: list[list[int]], params: SamplingParams,
                 on_tokens: Callable[[int, int], bool | None] | None = None) -> list[list[int]]:
        """Continue each prompt. Returns the new ids per prompt (stop token excluded).

        on_tokens(row, token_id) is called for every new token; returning False cancels the whole batch.
        """
        model, dev = self.model, self.device
        was_training = model.training
        model.eval()
        B = len(prompts)
        max_prompt = max(len(p) for p in prompts)
        budget = min(params.max_new_tokens, model.cfg.max_seq_len - max_prompt)
        if budget <= 0 or B == 0:
            return [[] for _ in prompts]
        total = max_prompt + budget
        ids = torch.full((B, max_prompt), self.pad_id, dtype=torch.long, device=dev)
        valid = torch.zeros((B, total), dtype=torch.bool, device=dev)
        for i, p in enumerate(prompts):  # left-pad so every row's next token is at the same position
            ids[i, max_prompt - len(p):] = torch.tensor(p, dtype=torch.long, device=dev)
            valid[i, max_prompt - len(p):max_prompt] = True
        valid[:, max_prompt:] = True
        padded = any(len(p) < max_prompt for p in prompts)
        mask = None
        if padded:  # causal & real keys; a pad query sees itself so its row is never all -inf (NaN)
            causal = torch.ones(max_prompt, max_prompt, dtype=torch.bool, device=dev).tril()
            eye = torch.eye(max_prompt, dtype=torch.bool, device=dev)
            mask = ((causal & valid[:, None, :max_prompt]) | eye)[:, None]               # (B, 1, T, T)
        gen = torch.Generator(device=dev)
        if params.seed is not None:
            gen.manual_seed(params.seed)
        else:
            gen.seed()
        seen = torch.zeros((B, model.cfg.vocab_size), dtype=torch.bool, device=dev)
        if params.repetition_penalty != 1.0:
            for i, p in enumerate(prompts):
                seen[i, torch.tensor(p, dtype=torch.long, device=dev)] = True
        stop = torch.tensor(self.stop_ids or [-1], device=dev)
        caches = model.new_caches(B, total, dtype=torch.float32 if dev.type == "cpu" else None)
        out: list[list[int]] = [[] for _ in prompts]
        done = torch.zeros(B, dtype=torch.bool, device=dev)
        with self.autocast():
            logits, _ = model(ids, mask=mask, caches=caches, pos=0, last_only=True)
            for t in range(budget):
                next_ids = self._pick(logits[:, -1, :].float(), seen, params, gen)         # (B,)
                next_ids = torch.where(done, torch.full_like(next_ids, self.pad_id), next_ids)
                hit_stop = torch.isin(next_ids, stop) & ~done
                cancelled = False
                for i, tok in enumerate(next_ids.tolist()):
                    if done[i] or hit_stop[i]:
                        continue
                    out[i].append(tok)
                    if on_tokens is not None and on_tokens(i, tok) is False:
                        cancelled = True
                    if params.stop_strings and self.decode and self._ends_with_stop(out[i], params.stop_strings):
                        hit_stop[i] = True
                done |= hit_stop
                if cancelled or bool(done.all()) or t == budget - 1:
                    break
                seen[torch.arange(B, device=dev), next_ids] = True
                pos = max_prompt + t
                step_mask = valid[:, None, None, :pos + 1] if padded else None            # (B, 1, 1, S)
                logits, _ = model(next_ids[:, None], mask=step_mask, caches=caches, pos=pos)
        model.train(was_training)
        return out

    def _pick(self, logits: torch.Tensor, seen: torch.Tensor, p: SamplingParams, gen: torch.Generator) -> torch.Tensor:
        logits = penalise_repeats(logits, seen, p.repetition_penalty)
        if p.temperature <= 0:
            return logits.argmax(-1)
        logits = filter_logits(logits / p.temperature, p)
        return torch.multinomial(logits.softmax(-1), 1, generator=gen).squeeze(-1)

    def _ends_with_stop(self, ids: list[int], stops: list[str]) -> bool:
        tail = self.decode(ids[-16:])
        return any(s in tail for s in stops)
