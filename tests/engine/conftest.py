"""Shared engine-test fixtures: a small bilingual tokenizer trained once per session, toy model shapes,
and a throw-away workspace. Everything is written here; nothing is read from outside the repository.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.config import ModelConfig

TOKENIZER_VOCAB = 512


def corpus() -> list[str]:
    """A few hundred varied strings: English, Chinese, digits and ChatML turns."""
    english = [
        "The quick brown fox jumps over the lazy dog.",
        "A language model learns patterns from text by predicting the next token.",
        "Small models train fast on a laptop and still learn a lot.",
        "Please answer the question in one short sentence.",
        "What is the capital of France? Paris is the capital of France.",
    ]
    chinese = [
        "预训练的目标是根据前面的文字预测下一个字。",
        "小模型也可以在笔记本电脑上训练。",
        "请用一句话回答这个问题。",
        "北京是中国的首都。",
        "今天天气很好，我们去公园散步吧。",
    ]
    out: list[str] = []
    for i in range(300):
        a, b = (i * 37) % 997, (i * 53) % 991
        out.append(english[i % len(english)])
        out.append(chinese[i % len(chinese)])
        out.append(f"What is {a} + {b}? The answer is {a + b}.")
        out.append(f"{a} 加 {b} 等于 {a + b}。")
        if i % 10 == 0:
            out.append(f"<|im_start|>user\nCount to {i % 7 + 3}.<|im_end|>\n<|im_start|>assistant\nOK.<|im_end|>\n")
    return out


@pytest.fixture(scope="session")
def tok():
    """A byte-level BPE (vocab 512) trained on `corpus()`; shared, never mutated."""
    from engine.tokenizer import train_tokenizer

    return train_tokenizer(corpus(), vocab_size=TOKENIZER_VOCAB, min_frequency=1)


@pytest.fixture(scope="session")
def tok_dir(tok, tmp_path_factory) -> Path:
    """A folder holding the session tokenizer's tokenizer.json."""
    folder = tmp_path_factory.mktemp("tokenizer")
    tok.save(folder)
    return folder


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Path:
    """An empty workspace folder, also set as MINIGPT_HOME so nothing touches the user's data directory."""
    ws = tmp_path / "workspace"
    ws.mkdir()
    monkeypatch.setenv("MINIGPT_HOME", str(ws))
    return ws


def toy_model_config(vocab_size: int = TOKENIZER_VOCAB, **overrides) -> ModelConfig:
    """The toy shape engine tests run at: 2 layers, width 32, 4 heads, 2 kv heads."""
    kw = dict(vocab_size=vocab_size, d_model=32, n_layer=2, n_head=4, n_kv_head=2, max_seq_len=64)
    kw.update(overrides)
    return ModelConfig(**kw)


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def model_cfg():
    """`model_cfg(**overrides)` -> the toy ModelConfig (tests import no helpers from conftest)."""
    return toy_model_config


@pytest.fixture
def init_dir(tmp_path, tok) -> Path:
    """A toy 'SFT' checkpoint: random weights (seed 1), the session tokenizer, under tmp_path/sft. The RL stage tests
    (test_rl_stages, test_align_tasks) keep their own, seed 0."""
    import torch

    from engine import checkpoint as ckpt
    from engine.model.gpt import GPT
    torch.manual_seed(1)
    cfg = toy_model_config()
    return ckpt.save_checkpoint(tmp_path / "sft" / "checkpoints", 0, GPT(cfg), cfg, tok.to_json(), None,
                                {"stage": "sft"})


@pytest.fixture(scope="session")
def jsonl():
    """`jsonl(path, records)` writes a JSON-lines file and returns its path."""
    return write_jsonl
