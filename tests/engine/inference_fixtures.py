"""A toy checkpoint for the inference tests (generate, evaluate, export, serve): a tokenizer trained here on a few
hundred strings and a randomly initialised 2-layer, width-32 GPT, saved once per session with `save_checkpoint`.

Test modules import the fixtures they use from here (`from inference_fixtures import toy_ckpt, toy_lm`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from engine.checkpoint import save_checkpoint
from engine.config import ModelConfig
from engine.generate import Generator
from engine.model.gpt import GPT
from engine.tokenizer import Tokenizer, train_tokenizer

VOCAB = 384
__all__ = ["toy", "toy_lm"]  # what test modules star-import: the fixtures


def toy_texts() -> list[str]:
    """English, Chinese, digits and ChatML turns: enough for a small BPE to learn real merges."""
    words = ["the model", "learns to", "predict", "the next token", "small", "fast", "answer", "question"]
    zh = ["小模型", "训练", "回答问题", "今天天气很好", "北京是中国的首都"]
    out = []
    for i in range(300):
        a, b = (i * 37) % 97, (i * 53) % 89
        out.append(f"{words[i % 8]} {words[(i * 3) % 8]} {words[(i * 5) % 8]}.")
        out.append(f"{zh[i % 5]}，{zh[(i + 2) % 5]}。")
        out.append(f"What is {a} + {b}? {a + b}")
        out.append(f"<|im_start|>user\nhello {i}<|im_end|>\n<|im_start|>assistant\nhi there<|im_end|>\n")
    return out


@dataclass
class ToyModel:
    folder: Path            # a checkpoint step folder (model.safetensors, config.json, tokenizer.json)
    model: GPT              # the same weights, fp32, eval mode
    tok: Tokenizer

    def generator(self, stop_ids: list[int] | None = None) -> Generator:
        """An fp32 generator stopping at <|im_end|> and <|endoftext|> unless told otherwise."""
        stops = [self.tok.im_end_id, self.tok.eot_id] if stop_ids is None else stop_ids
        return Generator(self.model, stops, self.tok.pad_id, decode=self.tok.decode)


def build_toy(root: Path, seed: int = 0, stage: str = "sft", **model_overrides) -> ToyModel:
    tok = train_tokenizer(toy_texts(), vocab_size=VOCAB, min_frequency=1)
    kw = dict(vocab_size=tok.vocab_size, d_model=32, n_layer=2, n_head=4, n_kv_head=2, max_seq_len=96, init_std=0.05)
    kw.update(model_overrides)
    cfg = ModelConfig(**kw)
    torch.manual_seed(seed)
    model = GPT(cfg).eval()
    folder = save_checkpoint(root / "checkpoints", 1, model, cfg, tok.to_json(), None, {"stage": stage})
    return ToyModel(folder, model, tok)


@pytest.fixture(scope="session")
def toy(tmp_path_factory) -> ToyModel:
    return build_toy(tmp_path_factory.mktemp("toy-run"))


@pytest.fixture(scope="session")
def toy_lm(toy):
    """The toy checkpoint loaded the way the CLI and the servers load it (CPU)."""
    from engine.inference import load_for_inference
    return load_for_inference(toy.folder, "cpu")
