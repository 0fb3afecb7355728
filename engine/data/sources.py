"""Which files a stage reads: the built-in dataset or the user's files, validated before any work starts.

Also the text stream a tokenizer is trained on. Knows file formats (via formats.py), not tensors.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.data import builtin, formats
from engine.data.records import record_texts
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


def resolve_stage_data(stage: str, train: list[str], val: list[str], workspace: Path, max_bad_fraction: float,
                       seed: int = 0, log=None) -> StageData:
    kind = STAGE_KIND[stage]
    if "builtin" in val:
        raise UserError("data.val: 'builtin' is not a file", "leave data.val empty to use the built-in held-out "
                        "split", kind="config")
    for p in val:
        check_file(Path(p), kind, stage, max_bad_fraction, workspace, log)
    if train == ["builtin"]:
        t, v = BUILTIN_STEMS[kind]
        train_paths = [builtin.builtin_file(workspace, t, seed)]
        val_paths = [builtin.builtin_file(workspace, v, seed)] if not val else [Path(p) for p in val]
        return StageData(kind, train_paths, val_paths, True)
    if "builtin" in train:
        raise UserError("data.train: 'builtin' cannot be mixed with files", "use either builtin or your own files",
                        kind="config")
    for p in train:
        check_file(Path(p), kind, stage, max_bad_fraction, workspace, log)
    return StageData(kind, [Path(p) for p in train], [Path(p) for p in val], False)


def check_file(path: Path, kind: str, stage: str, max_bad_fraction: float, workspace: Path, log=None) -> None:
    """Validate a data file for a stage, once per file content: the report is cached by the file's digest, so a
    resumed or repeated run over a large file does not read it line by line again."""
    import json

    from engine.data.pretokenize import file_digest
    if not path.is_file():
        formats.validate_file(path)  # raises the clear "not found" error
    cache = workspace / "data" / "checked" / f"{file_digest(path)}.json"
    if cache.is_file():
        cached = json.loads(cache.read_text())
        found, records, bad = cached["kind"], cached["records"], cached["bad_lines"]
        if cached["bad_count"] > max_bad_fraction * max(1, records + cached["bad_count"]):
            report = formats.validate_file(path)  # over this run's limit: re-read to quote the bad lines
            formats.check_bad_share(report, max_bad_fraction)
    else:
        report = formats.validate_file(path)
        formats.check_bad_share(report, max_bad_fraction)
        found, records, bad = report.kind, report.records, [str(b) for b in report.bad_lines[:5]]
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_text(json.dumps({"kind": found, "records": records, "bad_lines": bad,
                                   "bad_count": report.bad_count}))
        tmp.replace(cache)
    if found != kind:
        raise UserError(f"{path}: holds {found} records, but the {stage} stage trains on {kind} records",
                        _kind_hint(kind), kind="data")
    if bad and log:
        log(f"{path}: skipping bad lines, e.g. {bad[0]}", "warning")


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
        kind = formats.detect_format(p)
        for rec in formats.iter_records(p, kind):
            text = "\n".join(record_texts(rec, kind))
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


def sources_key(paths: list[Path], *extra: object) -> str:
    """A short hash of files' bytes and settings (names the cached tokenizer trained on them)."""
    from engine.data.pretokenize import file_digest
    h = hashlib.sha256("|".join(str(e) for e in extra).encode())
    for p in paths:
        h.update(file_digest(p).encode())
    return h.hexdigest()[:16]
