"""Which manual chapter explains a config knob, so every knob's tooltip can end with where to learn more
(docs/manual/{en,zh}/NN-*.md; Help → Manual opens it). Longest prefix wins: "model.moe.top_k" -> "model.moe"."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication

KNOB_CHAPTERS = {
    "model": 2, "model.moe": 2, "model.dropout": 3,
    "tokenizer": 3, "data": 3, "data.packing": 4,
    "stage": 5, "stage.name": 3, "stage.init": 4, "stage.teacher": 4, "stage.alpha": 4, "stage.temperature": 4,
    "optim": 1, "optim.schedule": 3, "optim.warmup_steps": 3, "optim.min_lr_ratio": 3, "optim.decay_fraction": 3,
    "optim.grad_clip": 1,
    "lora": 4,
    "hardware": 8,
    "run": 8, "run.max_steps": 3, "run.eval_every": 7, "run.eval_batches": 7, "run.task_eval_items": 7,
    "run.sample_prompts": 7, "run.sample_tokens": 7, "run.max_nonfinite_steps": 3,
}


def chapter_of(key: str) -> int | None:
    """The chapter for a dotted knob key, by its longest listed prefix; None when no chapter covers it."""
    parts = key.split(".")
    for n in range(len(parts), 0, -1):
        chapter = KNOB_CHAPTERS.get(".".join(parts[:n]))
        if chapter is not None:
            return chapter
    return None


def learn_more(key: str) -> str:
    """The tooltip's last line: where the manual explains this knob (in the interface's language)."""
    chapter = chapter_of(key)
    if chapter is None:
        return ""
    return QCoreApplication.translate("Knobs", "Learn more: the manual, chapter {0} (Help → Manual)").format(chapter)
