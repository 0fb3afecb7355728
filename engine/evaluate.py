"""Measuring a model: loss / perplexity (batches, or a text or SFT file: assistant tokens only for SFT), exact-match
accuracy on checkable tasks, BLEU (sacrebleu) and ROUGE (rouge-score) of greedy generations against references,
and `evaluate_checkpoint`, the `minigpt eval` report. Prompts are rendered by the caller's choice (chat template or
"Question/Answer" text); the answer rule lives with the built-in dataset. `reward_report` scores a reward-model
checkpoint on held-out preference pairs (pairwise accuracy, mean margin).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F

from engine.data import builtin, formats
from engine.errors import UserError
from engine.generate import Generator, SamplingParams
from engine.model.cross_entropy import IGNORE
from engine.tokenizer import Tokenizer

METRICS = ("ppl", "accuracy", "bleu", "rouge")


@torch.no_grad()
def mean_loss(model: torch.nn.Module, batches: Iterator[dict], n_batches: int, device: torch.device, autocast,
              loss_fn=None) -> float:
    """Unit-weighted mean loss over n_batches: the summed losses over the summed units, read once at the end.

    loss_fn(model, batch) -> (summed loss, unit count) as tensors; by default cross-entropy summed over the target
    tokens (those not -100) and their count, so a batch holding more tokens weighs more, as in training.
    """
    def token_loss(model, batch):
        _, loss = model(batch["x"], batch["y"], reduction="sum")
        return loss, (batch["y"] != IGNORE).sum()

    loss_fn = loss_fn or token_loss
    was_training = model.training
    model.eval()
    total = torch.zeros((), device=device, dtype=torch.float64)
    count = torch.zeros((), device=device, dtype=torch.float64)
    for _ in range(n_batches):
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in next(batches).items()}
        with autocast():
            loss, n = loss_fn(model, batch)
        total += loss.double()
        count += n
    model.train(was_training)
    return float(total / count) if float(count) else float("nan")


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
    prompts = [task_prompt_ids(tok, it["prompt"], chat) for it in items]
    completions = generate_texts(gen, tok, prompts, max_new_tokens, batch_size, stop_strings=["\n"])
    return accuracy_of(items, completions)


def accuracy_of(items: list[dict], completions: list[str]) -> dict[str, float]:
    right: dict[str, list[int]] = {}
    for it, text in zip(items, completions, strict=True):
        right.setdefault(it.get("task", "all"), []).append(int(builtin.check_answer(it["answer"], text)))
    every = [v for vs in right.values() for v in vs]
    result = {"accuracy": sum(every) / len(every)}
    result.update({f"acc_{task}": sum(v) / len(v) for task, v in sorted(right.items()) if task != "all"})
    return result


def generate_texts(gen: Generator, tok: Tokenizer, prompts: list[list[int]], max_new_tokens: int, batch_size: int,
                   stop_strings: list[str] | None = None) -> list[str]:
    """Greedy completions as text; prompts are batched by length so little of each batch is padding."""
    params = SamplingParams.greedy(max_new_tokens)
    params.stop_strings = list(stop_strings or [])
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    texts: list[str] = [""] * len(prompts)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        for i, ids in zip(chunk, gen.generate([prompts[i] for i in chunk], params), strict=True):
            texts[i] = tok.decode(ids)
    return texts


# ---------------------------------------------------------------- perplexity on a file
def loss_rows(tok: Tokenizer, path: Path, kind: str, seq_len: int, limit: int | None,
              control_tokens: bool = False) -> list[tuple[list, list]]:
    """(inputs, targets) rows: pretrain text packed into blocks of seq_len; SFT conversations one per row,
    with targets only on assistant replies and their <|im_end|>."""
    rows: list[tuple[list, list]] = []
    records = formats.iter_records(path, kind)
    if kind == "pretrain":
        stream: list[int] = []
        for n, rec in enumerate(records):
            if limit is not None and n >= limit:
                break
            stream += tok.encode_document(rec["text"], control_tokens)
        for a in range(0, max(len(stream) - 1, 0), seq_len):
            block = stream[a:a + seq_len + 1]
            if len(block) >= 2:
                rows.append((block[:-1], block[1:]))
        return rows
    for n, rec in enumerate(records):
        if limit is not None and n >= limit:
            break
        ids, mask = tok.encode_chat(rec["messages"])
        ids, mask = ids[:seq_len + 1], mask[:seq_len + 1]
        targets = [t if m else IGNORE for t, m in zip(ids[1:], mask[1:], strict=True)]
        if any(t != IGNORE for t in targets):
            rows.append((ids[:-1], targets))
    return rows


@torch.no_grad()
def file_perplexity(model: torch.nn.Module, tok: Tokenizer, path: Path, kind: str, device: torch.device, autocast,
                    batch_size: int = 8, limit: int | None = None, control_tokens: bool = False) -> dict:
    """Token-weighted loss and perplexity over a pretrain or SFT file: {"loss", "ppl", "tokens", "rows"}.
    `control_tokens`: the file's pretrain text embeds ChatML turns on purpose (the built-in corpus does)."""
    rows = loss_rows(tok, path, kind, model.cfg.max_seq_len, limit, control_tokens)
    if not rows:
        raise UserError(f"{path}: nothing to score (no text, or no assistant tokens)", kind="data")
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    rows.sort(key=lambda r: len(r[0]))
    for a in range(0, len(rows), batch_size):
        chunk = rows[a:a + batch_size]
        width = max(len(x) for x, _ in chunk)  # right padding: causal attention keeps it out of real positions
        x = torch.tensor([r + [tok.pad_id] * (width - len(r)) for r, _ in chunk], device=device)
        y = torch.tensor([t + [IGNORE] * (width - len(t)) for _, t in chunk], device=device)
        with autocast():
            logits, _ = model(x)                                                       # (B, T, V)
        total += float(F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), ignore_index=IGNORE,
                                       reduction="sum"))
        count += int((y != IGNORE).sum())
    model.train(was_training)
    loss = total / count
    return {"loss": loss, "ppl": perplexity(loss), "tokens": count, "rows": len(rows)}


# ---------------------------------------------------------------- BLEU and ROUGE
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_WORDS = re.compile(f"[{_CJK}]|[^\\s{_CJK}\\W]+|\\d")


class MixedTokenizer:
    """Words for Latin text, single characters for Chinese/Japanese/Korean (rouge-score's own drops CJK)."""

    def tokenize(self, text: str) -> list[str]:
        return _WORDS.findall(text.lower())


def bleu(hypotheses: list[str], references: list[str]) -> dict:
    import sacrebleu
    tokenize = "zh" if any(re.search(f"[{_CJK}]", r) for r in references) else "13a"
    metric = sacrebleu.BLEU(tokenize=tokenize)
    score = metric.corpus_score(hypotheses, [references])
    return {"bleu": score.score, "bleu_signature": str(metric.get_signature())}


def rouge(hypotheses: list[str], references: list[str]) -> dict:
    from rouge_score import rouge_scorer
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], tokenizer=MixedTokenizer())
    sums = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    for hyp, ref in zip(hypotheses, references, strict=True):
        for name, s in scorer.score(ref, hyp).items():
            sums[name] += s.fmeasure
    return {name: total / max(len(references), 1) for name, total in sums.items()}


# ---------------------------------------------------------------- `minigpt eval`
def reference_items(path: Path, kind: str, limit: int | None) -> list[dict]:
    """{"messages", "answer"[, "task"]} items: an rl_prompt file's "answer" (or "reference"), or an SFT record's last
    assistant reply given the turns before it."""
    items = []
    for rec in formats.iter_records(path, kind):
        if limit is not None and len(items) >= limit:
            break
        if kind == "rl_prompt":
            answer = rec.get("answer", rec.get("reference"))
            if isinstance(answer, str):
                items.append({"messages": rec["messages"], "answer": answer,
                              **({"task": str(rec["task"])} if "task" in rec else {})})
        elif kind == "sft":
            last = max(i for i, m in enumerate(rec["messages"]) if m["role"] == "assistant")
            if last > 0:
                items.append({"messages": rec["messages"][:last], "answer": rec["messages"][last]["content"]})
    return items


def prompt_ids(tok: Tokenizer, messages: list[dict], chat: bool) -> list[int]:
    if chat:
        return tok.encode_chat(messages, add_generation_prompt=True)[0]
    return task_prompt_ids(tok, messages[-1]["content"], chat=False)


def plan_sources(data: str, workspace: Path | None, stage: str | None) -> tuple[tuple[Path, str], tuple[Path, str]]:
    """(file, kind) to score perplexity on, and (file, kind) whose references the generations are compared with."""
    if data == "builtin":
        if workspace is None:
            raise UserError("--data builtin needs a workspace", "pass --workspace or set MINIGPT_HOME", kind="config")
        text = builtin.builtin_file(workspace, "pretrain_val" if stage == "pretrain" else "sft_val")
        return (text, "pretrain" if stage == "pretrain" else "sft"), (builtin.builtin_file(workspace, "tasks_val"),
                                                                      "rl_prompt")
    path = Path(data).expanduser()
    kind = formats.detect_format(path)
    return (path, kind), (path, kind)


def evaluate_checkpoint(lm, data: str, metrics: list[str], workspace: Path | None = None, limit: int | None = 200,
                        chat: bool = True, batch_size: int = 16, max_new_tokens: int = 64) -> dict:
    """The `minigpt eval` report: {"checkpoint", "data", "settings", "metrics": {...}, "sources": {...}}."""
    unknown = [m for m in metrics if m not in METRICS and m != "reward"]
    if unknown:
        raise UserError(f"unknown metric {', '.join(unknown)}", f"choose from {','.join(METRICS)}", kind="config")
    if "reward" in metrics:
        raise UserError("reward-model scores are not available yet: this engine has no reward-model checkpoints",
                        "drop 'reward' from --metrics; it arrives with the reward-model stage", kind="config")
    stage = lm.meta.get("stage")
    (ppl_path, ppl_kind), (ref_path, ref_kind) = plan_sources(data, workspace, stage)
    report: dict = {"checkpoint": str(lm.folder), "step": lm.meta.get("step"), "stage": stage, "data": data,
                    "settings": {"limit": limit, "chat": chat, "max_new_tokens": max_new_tokens, "decoding": "greedy"},
                    "metrics": {}, "sources": {}}
    if "ppl" in metrics:
        if ppl_kind not in ("pretrain", "sft"):
            raise UserError(f"{ppl_path}: perplexity needs text or SFT conversations, not {ppl_kind} records",
                            "drop ppl from --metrics for this file", kind="data")
        res = file_perplexity(lm.model, lm.tok, ppl_path, ppl_kind, lm.rt.device, lm.rt.autocast, batch_size, limit,
                              control_tokens=data == "builtin")  # read as training read it
        report["metrics"].update({"loss": res["loss"], "ppl": res["ppl"]})
        report["sources"]["ppl"] = {"file": str(ppl_path), "kind": ppl_kind, "tokens": res["tokens"],
                                    "scored": "assistant tokens" if ppl_kind == "sft" else "all tokens"}
    wanted = [m for m in ("accuracy", "bleu", "rouge") if m in metrics]
    if wanted:
        items = reference_items(ref_path, ref_kind, limit) if ref_kind in ("rl_prompt", "sft") else []
        if not items:
            raise UserError(f"{ref_path}: no references to compare generations with ({ref_kind} records)",
                            'use SFT conversations, or prompts with an "answer" field; or only --metrics ppl',
                            kind="data")
        tasks = all("task" in it for it in items)
        prompts = [prompt_ids(lm.tok, it["messages"], chat) for it in items]
        texts = generate_texts(lm.generator, lm.tok, prompts, 16 if tasks else max_new_tokens, batch_size,
                               ["\n"] if tasks else None)
        hyps = [builtin.extract_answer(t) if tasks else t.strip() for t in texts]
        refs = [it["answer"].strip() for it in items]
        if "accuracy" in wanted:
            report["metrics"].update(accuracy_of(items, texts))
        if "bleu" in wanted:
            report["metrics"].update(bleu(hyps, refs))
        if "rouge" in wanted:
            report["metrics"].update(rouge(hyps, refs))
        examples = [{"prompt": it["messages"][-1]["content"], "reference": r, "completion": h}
                    for it, r, h in zip(items[:5], refs, hyps, strict=False)]
        report["sources"]["generation"] = {"file": str(ref_path), "kind": ref_kind, "items": len(items),
                                           "examples": examples}
    return report


def reward_report(checkpoint: str, data: str, workspace: Path | None, limit: int | None, batch_size: int,
                  device: str = "auto") -> dict:
    """`minigpt eval CKPT --metrics reward`: a reward checkpoint's pairwise accuracy (the share of pairs whose chosen
    reply scores higher) and mean margin r(chosen) - r(rejected) on held-out preference pairs."""
    from engine.data.pretokenize import encode_pair
    from engine.hardware import pick_device
    from engine.train.reward import load_reward_model
    scorer = load_reward_model(checkpoint, pick_device(device))
    tok = Tokenizer.load(scorer.folder / "tokenizer.json")
    if data == "builtin":
        if workspace is None:
            raise UserError("--data builtin needs a workspace", "pass --workspace or set MINIGPT_HOME", kind="config")
        path = builtin.builtin_file(workspace, "preference_val")
    else:
        path = Path(data).expanduser()
        kind = formats.detect_format(path)
        if kind != "preference":
            raise UserError(f"{path}: holds {kind} records; reward scores need preference pairs",
                            'use a file of {"prompt", "chosen", "rejected"} lines', kind="data")
    sides, skipped = [], {"tie": 0, "too_long": 0}
    for record in formats.iter_records(path, "preference"):
        if limit is not None and len(sides) >= limit:
            break
        if record.get("tie"):
            skipped["tie"] += 1
            continue
        chosen, rejected = encode_pair(tok, record)
        if max(len(chosen[0]), len(rejected[0])) > scorer.model.cfg.max_seq_len:
            skipped["too_long"] += 1
            continue
        sides.append((chosen[0], rejected[0]))
    if not sides:
        raise UserError(f"{path}: no preference pairs to score", "use a file with untied pairs", kind="data")
    margins, chosen_r, rejected_r = [], [], []
    for i in range(0, len(sides), batch_size):
        rows = [c for c, _ in sides[i:i + batch_size]] + [r for _, r in sides[i:i + batch_size]]
        lengths = torch.tensor([len(r) for r in rows])
        ids = torch.full((len(rows), int(lengths.max())), tok.pad_id, dtype=torch.long)
        for j, r in enumerate(rows):
            ids[j, :len(r)] = torch.tensor(r)
        scores = scorer(ids, lengths).cpu()
        b = len(rows) // 2
        chosen_r += scores[:b].tolist()
        rejected_r += scores[b:].tolist()
        margins += (scores[:b] - scores[b:]).tolist()
    n = len(margins)
    info = {"file": str(path), "kind": "preference", "pairs": n, "skipped": skipped}
    step = json.loads((scorer.folder / "config.json").read_text(encoding="utf-8")).get("step")
    return {"checkpoint": str(scorer.folder), "step": step, "stage": "reward", "data": data,
            "settings": {"limit": limit}, "sources": {"reward": info},
            "metrics": {"pairwise_accuracy": sum(m > 0 for m in margins) / n, "mean_margin": sum(margins) / n,
                        "reward_chosen": sum(chosen_r) / n, "reward_rejected": sum(rejected_r) / n, "pairs": n}}
