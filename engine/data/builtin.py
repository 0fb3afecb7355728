"""The built-in bilingual dataset: pretrain, SFT, preference, reward-model, RL-prompt and held-out task files, from
a seed.

Owns the file set and record shapes, the mix of prose, dialogue and checkable tasks in each file, the cached folder in
the workspace, and the rule that checks an answer. Task wording and the held-out split live in builtin_tasks, prose and
dialogue in builtin_text. It knows nothing about tokenizers or training; pure stdlib, no torch.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from engine.data.builtin_tasks import HELD_OUT_PERCENT, LANGS, TASK_FAMILIES, TaskItem, sample_task, wrong_answer
from engine.data.builtin_text import (
    RUDE_REPLIES,
    SYSTEM_PROMPTS,
    TASK_SYSTEM_PROMPTS,
    dialogue_exchange,
    prose_document,
)

__all__ = [
    "BUILTIN_VERSION", "FILE_STEMS", "TASK_FAMILIES", "builtin_file", "check_answer", "ensure_builtin",
    "extract_answer", "generate_builtin",
]

BUILTIN_VERSION = 4  # 4: reward_train, the reward model's pairs; 3: the RL prompt files are named rl_prompt_*
RECORD_COUNTS = {
    "pretrain_train": 16_000, "pretrain_val": 500,
    "sft_train": 10_000, "sft_val": 400,
    "preference_train": 3_000, "preference_val": 300,
    "rl_prompt_train": 2_000, "rl_prompt_val": 300,
    "reward_train": 12_000,   # near-miss task pairs, added to preference_train's pairs (_reward_train)
}
# Families whose wrong answers a reward model trained on preference_train alone ranked worst on the policy's own
# samples (right over wrong among one prompt's replies: copy 0.75, reverse 0.76, unit 0.43), so PPO against it lost
# accuracy on them (bench/reward_offset_probe.py; bench/results/align_gains.md).
REWARD_DRILL_FAMILIES = ("copy", "reverse", "unit")
REWARD_DRILL_WRONG = 2  # pairs per drawn instance: the right answer over this many distinct plausible wrong ones
TASKS_VAL_PER_FAMILY_AND_LANG = 29  # 7 families x 2 languages x 29 = 406 held-out eval items
FILE_STEMS: tuple[str, ...] = (*RECORD_COUNTS, "tasks_val")
MANIFEST_NAME = "manifest.json"


def extract_answer(completion: str) -> str:
    """The answer part of a completion: its first line (before any "<|im_end|>"), without a trailing full stop."""
    text = completion.lstrip()
    for stop in ("\n", "<|im_end|>"):
        text = text.split(stop, 1)[0]
    text = text.strip()
    if text.endswith((".", "。")):
        text = text[:-1].rstrip()
    return text


def check_answer(expected: str, completion: str) -> bool:
    """True when the completion's answer equals the expected answer exactly."""
    return extract_answer(completion) == expected.strip()


def _task(rng: random.Random, held_out: bool, lang: str) -> TaskItem:
    return sample_task(rng, rng.choice(TASK_FAMILIES), lang, held_out)


def _exchange(rng: random.Random, held_out: bool, lang: str, task: bool) -> tuple[str, str]:
    if task:
        item = _task(rng, held_out, lang)
        return item.prompt, item.answer
    user, reply, _ = dialogue_exchange(rng, lang)
    return user, reply


def _system_prompt(rng: random.Random, lang: str, task: bool) -> str:
    return rng.choice(TASK_SYSTEM_PROMPTS[lang] if task and rng.random() < 0.5 else SYSTEM_PROMPTS[lang])


def _worksheet(rng: random.Random, held_out: bool, lang: str) -> str:
    """3-6 solved tasks as plain text: 'Question: ... Answer: ...', 'Q:/A:' lines, or statements like '47 + 38 = 85'."""
    family = rng.choice(TASK_FAMILIES) if rng.random() < 0.5 else None  # half the sheets drill one family
    items = [sample_task(rng, family or rng.choice(TASK_FAMILIES), lang, held_out) for _ in range(rng.randint(3, 6))]
    style = rng.randrange(3)
    zh = lang == "zh"
    if style == 0:
        template = "问题：{} 答案：{}。" if zh else "Question: {} Answer: {}."
        lines = [template.format(t.prompt, t.answer) for t in items]
    elif style == 1:
        template = "问：{}\n答：{}" if zh else "Q: {}\nA: {}"
        lines = [template.format(t.prompt, t.answer) for t in items]
    else:
        lines = [t.statement for t in items]
    return "\n".join(lines)


def _chatml_document(rng: random.Random, held_out: bool, lang: str) -> str:
    """A conversation written inline as text, the way minimind's pretraining files hold some of their chat data.

    Dialogue only: the checkable tasks appear in pretraining as worksheets, so answering them in the chat format
    is what SFT teaches (and what its measured gain shows).
    """
    parts = [f"<|im_start|>system\n{_system_prompt(rng, lang, False)}<|im_end|>\n"] if rng.random() < 0.3 else []
    for _turn in range(rng.randint(1, 3)):
        user, reply = _exchange(rng, held_out, lang, False)
        parts.append(f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n{reply}<|im_end|>\n")
    return "".join(parts)


def _pretrain_record(rng: random.Random, held_out: bool) -> dict:
    lang = rng.choice(LANGS)
    kind = rng.random()
    if kind < 0.45:
        text = prose_document(rng, lang)
    elif kind < 0.8:
        text = _worksheet(rng, held_out, lang)
    else:
        text = _chatml_document(rng, held_out, lang)
    return {"text": text}


def _sft_record(rng: random.Random, held_out: bool) -> dict:
    """Half checkable tasks, half dialogue; some open with a system turn, some have a second exchange."""
    lang = rng.choice(LANGS)
    task = rng.random() < 0.5
    messages = [{"role": "system", "content": _system_prompt(rng, lang, task)}] if rng.random() < 0.3 else []
    for turn in range(2 if rng.random() < 0.2 else 1):
        user, reply = _exchange(rng, held_out, lang, task if turn == 0 else rng.random() < 0.5)
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
    return {"conversations": messages}


def _preference_record(rng: random.Random, held_out: bool) -> dict:
    """Chosen is right; rejected is a plausible mistake (a task) or a wrong or rude reply (dialogue)."""
    lang = rng.choice(LANGS)
    if rng.random() < 0.65:
        item = _task(rng, held_out, lang)
        return {"prompt": item.prompt, "chosen": item.answer, "rejected": wrong_answer(rng, item)}
    user, reply, wrong = dialogue_exchange(rng, lang)
    rejected = wrong if wrong is not None and rng.random() < 0.7 else rng.choice(RUDE_REPLIES[lang])
    return {"prompt": user, "chosen": reply, "rejected": rejected}


def _prompt_record(rng: random.Random, held_out: bool) -> dict:
    item = _task(rng, held_out, rng.choice(LANGS))
    return {"prompt": item.prompt, "task": item.family, "lang": item.lang, "answer": item.answer}


_BUILDERS: dict[str, Callable[[random.Random, bool], dict]] = {
    "pretrain": _pretrain_record, "sft": _sft_record, "preference": _preference_record, "rl_prompt": _prompt_record,
}


def _reward_train(rng: random.Random, seed: int) -> list[dict]:
    """The reward stage's training pairs: every preference_train pair, plus RECORD_COUNTS["reward_train"] pairs of
    a right answer over a plausible wrong one (a digit, a letter, a factor off) on fresh training-side instances of
    REWARD_DRILL_FAMILIES, shuffled together. A reward model PPO can trust has to tell a near miss from the answer,
    and 200 pairs a family (preference_train's share) did not teach it that; DPO keeps preference_train as it is."""
    drill: list[dict] = []
    while len(drill) < RECORD_COUNTS["reward_train"]:
        family = REWARD_DRILL_FAMILIES[len(drill) // REWARD_DRILL_WRONG % len(REWARD_DRILL_FAMILIES)]
        item = sample_task(rng, family, rng.choice(LANGS), held_out=False)
        wrongs = list(dict.fromkeys(wrong_answer(rng, item) for _ in range(4 * REWARD_DRILL_WRONG)))
        drill += [{"prompt": item.prompt, "chosen": item.answer, "rejected": w} for w in wrongs[:REWARD_DRILL_WRONG]]
    records = _records("preference_train", seed) + drill[:RECORD_COUNTS["reward_train"]]
    rng.shuffle(records)
    return records


def _tasks_val(rng: random.Random) -> list[dict]:
    """Balanced held-out eval items: every family in both languages, one item per instance."""
    records = []
    for family in TASK_FAMILIES:
        for lang in LANGS:
            seen_keys: set[str] = set()
            for _ in range(50 * TASKS_VAL_PER_FAMILY_AND_LANG):
                item = sample_task(rng, family, lang, held_out=True)
                if item.key not in seen_keys:
                    seen_keys.add(item.key)
                    records.append({"task": family, "lang": lang, "prompt": item.prompt, "answer": item.answer})
                if len(seen_keys) == TASKS_VAL_PER_FAMILY_AND_LANG:
                    break
    rng.shuffle(records)  # so the first N items of a quick eval still cover every family
    return records


# Files built whole rather than record by record from _BUILDERS.
_FILE_BUILDERS: dict[str, Callable[[random.Random, int], list[dict]]] = {
    "tasks_val": lambda rng, seed: _tasks_val(rng), "reward_train": _reward_train,
}


def _records(stem: str, seed: int) -> list[dict]:
    rng = random.Random(f"minigpt-builtin:{seed}:{stem}")  # one stream per file: editing one file leaves the rest
    if stem in _FILE_BUILDERS:
        return _FILE_BUILDERS[stem](rng, seed)
    kind, split = stem.rsplit("_", 1)
    build = _BUILDERS[kind]
    return [build(rng, split == "val") for _ in range(RECORD_COUNTS[stem])]


def generate_builtin(out_dir: Path, seed: int = 0) -> dict[str, Path]:
    """Write every built-in file into out_dir; the same seed gives byte-identical files. Keys are file stems."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths, files = {}, {}
    for stem in FILE_STEMS:
        records = _records(stem, seed)
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
        paths[stem] = out_dir / f"{stem}.jsonl"
        paths[stem].write_bytes(data)
        files[stem] = {"file": paths[stem].name, "records": len(records), "bytes": len(data)}
    manifest = {
        "name": "builtin", "version": BUILTIN_VERSION, "seed": seed, "held_out_percent": HELD_OUT_PERCENT,
        "task_families": list(TASK_FAMILIES), "languages": list(LANGS), "files": files,
        "total_bytes": sum(f["bytes"] for f in files.values()),
    }
    paths["manifest"] = out_dir / MANIFEST_NAME
    paths["manifest"].write_bytes((json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
    return paths


def ensure_builtin(workspace: Path, seed: int = 0) -> Path:
    """The built-in dataset folder in the workspace, generated on first use and reused after.

    Files are written into a temporary sibling that is renamed into place, so a crash never leaves a half-written
    folder; when two processes race, the first rename wins and the other one's copy is dropped.
    """
    target = Path(workspace) / "data" / f"builtin-v{BUILTIN_VERSION}-seed{seed}"
    if (target / MANIFEST_NAME).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the dataset is not
        generate_builtin(tmp, seed)
        if (target / MANIFEST_NAME).is_file():
            return target
        if target.exists():  # no manifest: not ours to trust (e.g. copied in by hand and interrupted)
            shutil.rmtree(target)
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / MANIFEST_NAME).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def builtin_file(workspace: Path, stem: str, seed: int = 0) -> Path:
    """Path of one built-in JSONL file (e.g. "sft_train"), generating the dataset if needed."""
    if stem not in FILE_STEMS:
        raise ValueError(f"unknown built-in file {stem!r}; expected one of: {', '.join(FILE_STEMS)}")
    return ensure_builtin(workspace, seed) / f"{stem}.jsonl"
