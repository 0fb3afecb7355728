"""The `tokenizer:` and `data:` sections: which files, how they are read, how the tokenizer is trained."""

from __future__ import annotations

from dataclasses import dataclass

from engine.config_base import _require, knob
from engine.data.encoding import encoding_problem


@dataclass(kw_only=True)
class TokenizerConfig:
    path: str | None = knob(None, "A tokenizer.json (or its folder); empty trains one on the data and caches it.")
    vocab_size: int = knob(4096, "Vocabulary size when a tokenizer is trained.")
    sample_bytes: int = knob(20_000_000, "At most this many bytes of each data file are read to train the tokenizer.")
    min_frequency: int = knob(2, "A pair must occur this often to be merged when training.")

    def __post_init__(self) -> None:
        _require(self.vocab_size >= 300, "tokenizer.vocab_size",
                 f"{self.vocab_size} is too small", "byte-level BPE needs 256 bytes + specials; use >= 300")
        _require(self.vocab_size <= 1 << 20, "tokenizer.vocab_size", "is unreasonably large (max 1048576)")
        _require(self.sample_bytes > 0, "tokenizer.sample_bytes", "must be positive")
        _require(self.min_frequency >= 1, "tokenizer.min_frequency", "must be >= 1")


@dataclass(kw_only=True)
class DataConfig:
    train: list[str] = knob(["builtin"], "Training files (.jsonl or .txt), or 'builtin' for the built-in dataset.")
    val: list[str] = knob([], "Validation files; empty uses the built-in held-out split or val_fraction of train.")
    val_fraction: float = knob(0.02, "Share of the training records held out for validation when no val file is given.")
    seq_len: int = knob(256, "Tokens per training sequence (at most model.max_seq_len).")
    packing: bool = knob(True, "Pack several documents / conversations into each sequence (no padding waste).")
    max_bad_fraction: float = knob(0.05, "Stop before training if more than this share of a file's lines are bad.")
    seed: int = knob(0, "Seed of the built-in dataset generator.")
    encoding: str = knob("utf-8", "Text encoding of your data files: utf-8, auto (guess each file's), or a Python "
                         "codec name such as gb18030 or cp1252. The built-in dataset is always UTF-8.")
    control_tokens: bool = knob(False, "Read <|im_start|>, <|im_end|> and <|endoftext|> written in pretrain text as "
                                "control tokens (minimind's pretrain_hq.jsonl packs ChatML turns into its text); off, "
                                "they are plain characters. Chat content is always plain text; the built-in "
                                "corpus always opts in.")

    def __post_init__(self) -> None:
        problem = encoding_problem(self.encoding)
        _require(problem is None, "data.encoding", *(problem or ("",)))
        _require(isinstance(self.train, list) and len(self.train) > 0, "data.train",
                 "needs at least one file or 'builtin'")
        _require(self.seq_len >= 8, "data.seq_len", f"must be >= 8, got {self.seq_len}")
        _require(0.0 <= self.val_fraction < 0.5, "data.val_fraction", "must be in [0, 0.5)")
        _require(0.0 <= self.max_bad_fraction <= 1.0, "data.max_bad_fraction", "must be in [0, 1]")
