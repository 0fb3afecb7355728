"""Measuring a model: validation loss / perplexity and exact-match accuracy on checkable tasks.

Task prompts are rendered by the caller's choice (chat template or plain "Question/Answer" text); the
answer rule lives with the built-in dataset (`builtin.check_answer`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from engine.data import builtin
from engine.generate import Generator, SamplingParams
from engine.tokenizer import Tokenizer


@torch.no_grad()
def mean_loss(model: torch.nn.Module, batches: Iterator[dict], n_batches: int, device: torch.device, autocast) -> float:
    """Token-weighted mean loss over n_batches (targets of -100 do not count)."""
    was_training = model.training
    model.eval()
    total, count = torch.zeros((), device=device, dtype=torch.float64), 0
    for _ in range(n_batches):
        batch = next(batches)
        x, y = batch["x"].to(device), batch["y"].to(device)
        n = int((y != -100).sum())
        if n == 0:
            continue
        with autocast():
            _, loss = model(x, y)
        total += loss.double() * n
        count += n
    model.train(was_training)
    return float(total / count) if count else float("nan")


def perplexity(loss: float) -> float:
    return math.exp(min(loss, 50.0)) if loss == loss else float("nan")


def task_prompt_ids(tok: Tokenizer, prompt: str, chat: bool = True) -> list[int]:
    if chat:
        ids, _ = tok.encode_chat([{"role": "user", "content": prompt}], add_generation_prompt=True)
        return ids
    return tok.encode(f"Question: {prompt} Answer:")


def task_accuracy(gen: Generator, tok: Tokenizer, items: list[dict], chat: bool = True, batch_size: int = 32,
                  max_new_tokens: int = 16) -> dict[str, float]:
    """Greedy exact-match accuracy overall and per task family: {"accuracy": ..., "acc_add": ..., ...}."""
    if not items:
        return {}
    right: dict[str, list[int]] = {}
    params = SamplingParams.greedy(max_new_tokens)
    params.stop_strings = ["\n"]
    for i in range(0, len(items), batch_size):
        chunk = items[i:i + batch_size]
        outs = gen.generate([task_prompt_ids(tok, it["prompt"], chat) for it in chunk], params)
        for it, ids in zip(chunk, outs, strict=True):
            ok = builtin.check_answer(it["answer"], tok.decode(ids))
            right.setdefault(it["task"], []).append(int(ok))
    every = [v for vs in right.values() for v in vs]
    result = {"accuracy": sum(every) / len(every)}
    result.update({f"acc_{task}": sum(v) / len(v) for task, v in sorted(right.items())})
    return result
