"""Tokenize a stage's data once into memmap shards under <workspace>/data/<hash>/, reused while unchanged.

A record is written as it is encoded, part by part, so a long one is never held whole as ids.
A set is: tokens.bin (uint16, or uint32 for vocabularies over 65535), mask.bin (uint8, 1 = loss on that token;
SFT and preference), offsets.npy (int64 document starts, n_docs + 1) and meta.json. A preference set holds each
pair as two documents, chosen (2i) then rejected (2i+1), and pairs.npy: (file index, line, tie) per pair.
The key hashes the source files' bytes, the tokenizer, the layout version and the reading options (encoding,
control tokens). Written into a temporary folder and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from itertools import islice
from pathlib import Path

import numpy as np

from engine.data import formats
from engine.tokenizer import SEGMENT_CHARS, Tokenizer, tokenizer_fingerprint

LAYOUT_VERSION = 1
CHUNK = 2048  # records encoded per tokenizer batch (encode_batch runs in parallel in Rust)

Progress = Callable[[str, int, int], None]


@dataclass
class TokenizedSet:
    """A memory-mapped tokenized dataset: tokens[offsets[i]:offsets[i+1]] is document i."""

    folder: Path
    tokens: np.ndarray
    mask: np.ndarray | None
    offsets: np.ndarray
    meta: dict
    pairs: np.ndarray | None = None   # preference sets: (n_pairs, 3) int64 rows of (file index, line, tie)

    @property
    def n_docs(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_tokens(self) -> int:
        return int(self.offsets[-1])

    @classmethod
    def open(cls, folder: Path) -> TokenizedSet:
        meta = json.loads((folder / "meta.json").read_text())
        dtype = np.dtype(meta["dtype"])
        n = meta["n_tokens"]
        tokens = np.memmap(folder / "tokens.bin", dtype=dtype, mode="r", shape=(n,)) if n else np.zeros(0, dtype)
        mask = None
        if (folder / "mask.bin").exists():
            mask = np.memmap(folder / "mask.bin", dtype=np.uint8, mode="r", shape=(n,)) if n else np.zeros(0, np.uint8)
        offsets = np.load(folder / "offsets.npy", allow_pickle=False)
        pairs = np.load(folder / "pairs.npy", allow_pickle=False) if (folder / "pairs.npy").exists() else None
        return cls(folder, tokens, mask, offsets, meta, pairs)

    def where(self, pair: int) -> str:
        """file:line of a preference pair, for messages about it."""
        file_index, line, _ = self.pairs[pair]
        return f"{self.meta['sources'][int(file_index)]}:{int(line)}"


def file_digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def count_lines(path: Path) -> int:
    """Newlines in a file (records of a .jsonl; an upper bound for a .txt), fast enough for GBs."""
    n = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            n += block.count(b"\n")
    return max(n, 1)


def dataset_key(paths: list[Path], kind: str, tok: Tokenizer, encoding: str = "utf-8",
                control_tokens: bool = False) -> str:
    h = hashlib.sha256()
    h.update(f"v{LAYOUT_VERSION}|{kind}|{tokenizer_fingerprint(tok)}".encode())
    if encoding != "utf-8" or control_tokens:  # keeps the keys of sets made before these options existed
        h.update(f"|{encoding}|{control_tokens}".encode())
    for p in paths:
        h.update(file_digest(p).encode())
    return h.hexdigest()[:20]


def _encode_records(records: Iterator[dict], kind: str, tok: Tokenizer, control_tokens: bool,
                    progress: Progress | None = None) -> Iterator[tuple[Iterable[list[int]], list[int] | None]]:
    """(ids in parts, mask) per record; mask is None for pretrain text (every token carries loss).

    Short pretrain texts are encoded CHUNK at a time in one parallel call; a long one part by part as it is written,
    its characters reported as a phase of their own ("pretokenize record N"), since one record of a 2 GB line would
    otherwise hold the record count still for minutes.
    """
    n = 0
    while batch := list(islice(records, CHUNK)):
        if kind != "pretrain":
            for ids, mask in tok.encode_chats([r["messages"] for r in batch]):
                yield [ids], mask
            continue
        texts = [r["text"] for r in batch]
        encoded = iter(tok.encode_batch([t for t in texts if len(t) <= SEGMENT_CHARS], control_tokens))
        for text in texts:
            n += 1
            if len(text) <= SEGMENT_CHARS:
                ids = [next(encoded)]
            else:
                report = None if progress is None else partial(_record_progress, progress, n, len(text))
                ids = tok.iter_encoded(text, control_tokens, on_chars=report)
            yield _then(ids, tok.document_end(text, control_tokens)), None


def _record_progress(progress: Progress, n: int, total: int, done: int) -> None:
    progress(f"pretokenize record {n:,}", done, total)


def encode_pair(tok: Tokenizer, record: dict) -> tuple[tuple[list[int], list[int]], tuple[list[int], list[int]]]:
    """A normalised preference record as two chat-encoded sequences (ids, reply mask), chosen then rejected.

    Each is the prompt turns plus one assistant reply, ending at the reply's <|im_end|> (the newline the template
    puts after it is dropped), so the last token is where a reward model reads its score.
    """
    prompt = record["prompt"]
    sides = tok.encode_chats([prompt + [{"role": "assistant", "content": record[side]}]
                              for side in ("chosen", "rejected")])
    out = []
    for ids, mask in sides:
        end = len(ids) - ids[::-1].index(tok.im_end_id)     # one past the last <|im_end|>
        out.append((ids[:end], mask[:end]))
    return out[0], out[1]


def _encode_pairs(numbered: Iterator[tuple[int, dict]], tok: Tokenizer, file_index: int,
                  pairs: list[tuple[int, int, int]]) -> Iterator[tuple[Iterable[list[int]], list[int]]]:
    """Two documents per preference record (chosen, rejected); appends the record's (file, line, tie) to pairs."""
    for line, record in numbered:
        chosen, rejected = encode_pair(tok, record)
        pairs.append((file_index, line, int(bool(record.get("tie")))))
        yield [chosen[0]], chosen[1]
        yield [rejected[0]], rejected[1]


def _then(parts: Iterable[list[int]], last: list[int]) -> Iterator[list[int]]:
    yield from parts
    yield last


def pretokenize(paths: list[Path], kind: str, tok: Tokenizer, data_root: Path,
                progress: Progress | None = None, encoding: str = "utf-8",
                control_tokens: bool = False) -> TokenizedSet:
    """Tokenize `paths` (records of one kind: "pretrain" text, "sft" conversations or "preference" pairs), or reuse
    a cached set.

    `encoding` is how the files are read (formats.py); `control_tokens` reads "<|im_start|>" etc. in pretrain text
    as control ids (a source that embeds ChatML turns on purpose); otherwise they are plain text.
    """
    key = dataset_key(paths, kind, tok, encoding, control_tokens)
    folder = data_root / key
    if (folder / "meta.json").is_file():
        return TokenizedSet.open(folder)
    tmp = data_root / f".{key}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    dtype = np.uint16 if tok.vocab_size <= 65535 else np.uint32
    offsets = [0]
    total_lines = sum(count_lines(p) for p in paths)
    pairs: list[tuple[int, int, int]] = []
    with open(tmp / "tokens.bin", "wb") as ftok, open(tmp / "mask.bin", "wb") as fmask:
        for file_index, path in enumerate(paths):
            if kind == "preference":
                docs = _encode_pairs(formats.iter_numbered_records(path, kind, encoding), tok, file_index, pairs)
            else:
                docs = _encode_records(formats.iter_records(path, kind, encoding=encoding), kind, tok,
                                       control_tokens, progress)
            for parts, mask in docs:
                n = 0
                for ids in parts:
                    ftok.write(np.asarray(ids, dtype=dtype).tobytes())
                    n += len(ids)
                if mask is not None:
                    fmask.write(np.asarray(mask, dtype=np.uint8).tobytes())
                offsets.append(offsets[-1] + n)
                if progress and len(offsets) % CHUNK == 1:
                    progress("pretokenize", min(len(offsets) - 1, total_lines), total_lines)
    if progress:
        progress("pretokenize", total_lines, total_lines)
    if kind == "pretrain":
        (tmp / "mask.bin").unlink()
    np.save(tmp / "offsets.npy", np.asarray(offsets, dtype=np.int64), allow_pickle=False)
    if kind == "preference":
        np.save(tmp / "pairs.npy", np.asarray(pairs, dtype=np.int64).reshape(-1, 3), allow_pickle=False)
    meta = {"layout": LAYOUT_VERSION, "kind": kind, "dtype": np.dtype(dtype).name, "n_tokens": offsets[-1],
            "n_docs": len(offsets) - 1, "sources": [str(p) for p in paths], "tokenizer": tokenizer_fingerprint(tok),
            "encoding": encoding, "control_tokens": control_tokens}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    try:
        tmp.rename(folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (folder / "meta.json").is_file():  # not "another process finished the same set first"
            raise
    return TokenizedSet.open(folder)
