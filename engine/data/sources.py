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
from engine.stages import STAGES
from engine.tokenizer import split_long

# The record kind each stage trains on and the built-in files that hold it come from the stage registry
# (engine/stages.py: STAGES[name].kind and .builtin), read when a run starts.


@dataclass
class StageData:
    kind: str
    train: list[Path]
    val: list[Path]               # empty: hold out part of train
    builtin: bool
    encoding: str = "utf-8"       # how the user's files are read (data.encoding)
    control_tokens: bool = False  # "<|im_start|>" in the user's pretrain text is a control token (data.control_tokens)
    builtin_val: bool = False     # val is the built-in held-out split

    def read_as(self, paths: list[Path]) -> dict:
        """pretokenize()'s reading options for `paths`: the built-in files are ours, UTF-8, and their pretrain text
        embeds ChatML turns on purpose (so a base model learns the template); the user's files follow data.*."""
        if (self.builtin and paths == self.train) or (self.builtin_val and paths == self.val):
            return {"encoding": "utf-8", "control_tokens": True}
        return {"encoding": self.encoding, "control_tokens": self.control_tokens}


def resolve_stage_data(stage: str, train: list[str], val: list[str], workspace: Path, max_bad_fraction: float,
                       seed: int = 0, log=None, encoding: str = "utf-8", control_tokens: bool = False) -> StageData:
    kind = STAGES[stage].kind
    if "builtin" in val:
        raise UserError("data.val: 'builtin' is not a file", "leave data.val empty to use the built-in held-out "
                        "split", kind="config")
    for p in val:
        check_file(Path(p), kind, stage, max_bad_fraction, workspace, log, encoding)
    if train == ["builtin"]:
        t, v = STAGES[stage].builtin
        train_paths = [builtin.builtin_file(workspace, t, seed)]
        val_paths = [builtin.builtin_file(workspace, v, seed)] if not val else [Path(p) for p in val]
        return StageData(kind, train_paths, val_paths, True, encoding, control_tokens, builtin_val=not val)
    if "builtin" in train:
        raise UserError("data.train: 'builtin' cannot be mixed with files", "use either builtin or your own files",
                        kind="config")
    for p in train:
        check_file(Path(p), kind, stage, max_bad_fraction, workspace, log, encoding)
    return StageData(kind, [Path(p) for p in train], [Path(p) for p in val], False, encoding, control_tokens)


def check_file(path: Path, kind: str, stage: str, max_bad_fraction: float, workspace: Path, log=None,
               encoding: str = "utf-8") -> None:
    """Validate a data file for a stage, once per file content: the report is cached by the file's digest, so a
    resumed or repeated run over a large file does not read it line by line again."""
    import json

    from engine.data.pretokenize import file_digest
    if not path.is_file():
        formats.validate_file(path)  # raises the clear "not found" error
    read_as = "" if encoding == "utf-8" else f"-{encoding}"  # the same bytes read otherwise are other records
    cache = workspace / "data" / "checked" / f"{file_digest(path)}{read_as}.json"
    if cache.is_file():
        cached = json.loads(cache.read_text())
        found, records, bad = cached["kind"], cached["records"], cached["bad_lines"]
        if cached["bad_count"] > max_bad_fraction * max(1, records + cached["bad_count"]):
            report = formats.validate_file(path, encoding=encoding)  # over the limit: re-read to quote bad lines
            formats.check_bad_share(report, max_bad_fraction)
    else:
        report = formats.validate_file(path, encoding=encoding)
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


def tokenizer_texts(paths: list[Path], sample_bytes: int, progress=None, encoding: str = "utf-8") -> Iterator[str]:
    """Plain text from any accepted data file, at most about `sample_bytes` bytes from each.

    A long record comes out in segments (the BPE trainer holds each text whole, at ~100 bytes a character), and
    the budget stops it part way. progress(done_bytes, total_bytes) is called every megabyte or so.
    """
    total = sum(min(p.stat().st_size, sample_bytes) for p in paths)
    done, reported = 0, 0
    for p in paths:
        budget = sample_bytes
        kind = formats.detect_format(p, encoding=encoding)
        for rec in formats.iter_records(p, kind, encoding):
            for segment in split_long("\n".join(record_texts(rec, kind))):
                yield segment
                size = len(segment.encode("utf-8"))
                budget -= size
                done += size
                if progress and done - reported >= 1 << 20:
                    progress(min(done, total), total)
                    reported = done
                if budget <= 0:
                    break
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
