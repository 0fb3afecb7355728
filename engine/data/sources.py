"""Which files a stage reads: the built-in dataset or the user's files, validated before any work starts.

Also the text stream a tokenizer is trained on. Knows file formats (via formats.py), not tensors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.data import builtin, formats
from engine.errors import UserError

# The record kind each stage trains on, and the built-in files that hold it.
STAGE_KIND = {"pretrain": "pretrain", "sft": "sft"}
BUILTIN_STEMS = {"pretrain": ("pretrain_train", "pretrain_val"), "sft": ("sft_train", "sft_val")}


@dataclass
class StageData:
    kind: str
    train: list[Path]
    val: list[Path]               # empty: hold out part of train
    builtin: bool
    reports: list[formats.FileReport]


def resolve_stage_data(stage: str, train: list[str], val: list[str], workspace: Path, max_bad_fraction: float,
                       seed: int = 0, log=None) -> StageData:
    kind = STAGE_KIND[stage]
    if train == ["builtin"]:
        t, v = BUILTIN_STEMS[kind]
        train_paths = [builtin.builtin_file(workspace, t, seed)]
        val_paths = [builtin.builtin_file(workspace, v, seed)] if not val else [Path(p) for p in val]
        return StageData(kind, train_paths, val_paths, True, [])
    if "builtin" in train:
        raise UserError("data.train: 'builtin' cannot be mixed with files", "use either builtin or your own files",
                        kind="config")
    reports = []
    paths = [Path(p) for p in train] + [Path(p) for p in val]
    for p in paths:
        report = formats.validate_file(p)
        if report.kind != kind:
            raise UserError(f"{p}: holds {report.kind} records, but the {stage} stage trains on {kind} records",
                            _kind_hint(kind), kind="data")
        formats.check_bad_share(report, max_bad_fraction)
        if report.bad_lines and log:
            log(f"{p}: skipping {len(report.bad_lines)} bad lines, e.g. {report.bad_lines[0]}", "warning")
        reports.append(report)
    return StageData(kind, [Path(p) for p in train], [Path(p) for p in val], False, reports)


def _kind_hint(kind: str) -> str:
    return {
        "pretrain": 'pretraining reads {"text": ...} lines or .txt files',
        "sft": 'SFT reads {"conversations": [{"role": ..., "content": ...}]}, "messages", or Alpaca lines',
    }.get(kind, "see `minigpt data check`")


def tokenizer_texts(paths: list[Path], sample_bytes: int, progress=None) -> Iterator[str]:
    """Plain text from any accepted data file, at most about `sample_bytes` bytes from each.

    progress(done_bytes, total_bytes) is called every megabyte or so (total = what will be read at most).
    """
    total = sum(min(p.stat().st_size, sample_bytes) for p in paths)
    done, reported = 0, 0
    for p in paths:
        budget = sample_bytes
        for rec in formats.iter_records(p):
            text = record_text(rec)
            yield text
            size = len(text.encode("utf-8"))
            budget -= size
            done += size
            if progress and done - reported >= 1 << 20:
                progress(min(done, total), total)
                reported = done
            if budget <= 0:
                break
    if progress:
        progress(total, total)


def record_text(rec: dict) -> str:
    if "text" in rec:
        return rec["text"]
    parts = [m["content"] for m in rec.get("messages", []) or rec.get("prompt", [])]
    parts += [rec[k] for k in ("chosen", "rejected") if isinstance(rec.get(k), str)]
    return "\n".join(parts)


def sources_key(paths: list[Path], *extra: object) -> str:
    """A short hash of files' bytes and settings (names the cached tokenizer trained on them)."""
    from engine.data.pretokenize import file_digest
    h = hashlib.sha256("|".join(str(e) for e in extra).encode())
    for p in paths:
        h.update(file_digest(p).encode())
    return h.hexdigest()[:16]
