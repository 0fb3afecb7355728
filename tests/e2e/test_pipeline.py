"""Pretrain -> SFT through the real CLI, on the built-in data and on minimind-format files of the user's own."""

from __future__ import annotations

import json

import pytest

from engine.protocol import read_events_file
from tests.e2e.conftest import FAST, cli

pytestmark = pytest.mark.slow


def evals(run_dir):
    return [e for e in read_events_file(run_dir / "events.jsonl") if e.event == "eval"]


def test_pretrain_then_sft_from_its_checkpoint(workspace, tmp_path):
    pre = tmp_path / "pre"
    cli(["train", "--stage", "pretrain", "--max-steps", "30", "--eval-every", "15", "--out", str(pre), *FAST],
        workspace)
    pre_evals = evals(pre)
    assert pre_evals[-1].get("val_loss") < pre_evals[0].get("val_loss") - 0.5
    step = (pre / "checkpoints" / "latest").read_text().strip()
    ckpt = pre / "checkpoints" / step
    assert {p.name for p in ckpt.iterdir()} >= {"model.safetensors", "config.json", "tokenizer.json",
                                                 "trainer_state.pt"}

    sft = tmp_path / "sft"
    cli(["train", "--stage", "sft", "--init", str(ckpt), "--max-steps", "20", "--eval-every", "10",
         "--out", str(sft), *FAST], workspace)
    sft_ckpt = sft / "checkpoints" / (sft / "checkpoints" / "latest").read_text().strip()
    assert (sft_ckpt / "tokenizer.json").read_text() == (ckpt / "tokenizer.json").read_text()
    assert json.loads((sft_ckpt / "config.json").read_text())["model"] == \
        json.loads((ckpt / "config.json").read_text())["model"]
    sft_evals = evals(sft)
    assert sft_evals[-1].get("val_loss") < sft_evals[0].get("val_loss")

    # The same SFT from random weights starts far worse: --init really loaded the pretrained model.
    scratch = tmp_path / "scratch"
    cli(["train", "--stage", "sft", "--max-steps", "1", "--eval-every", "1", "--out", str(scratch),
         "--tokenizer", str(ckpt), *FAST], workspace)
    assert evals(scratch)[0].get("val_loss") > sft_evals[0].get("val_loss") + 0.5

    # run.yaml is the resolved config, and runs again as it is
    again = tmp_path / "again"
    cli(["train", str(sft / "run.yaml"), "--set", "run.max_steps=2", "--out", str(again)], workspace)
    assert (again / "checkpoints" / "latest").is_file()


MINIMIND_PRETRAIN = [
    {"text": "<|im_start|>user\n你好，请介绍一下自己。<|im_end|>\n<|im_start|>assistant\n我是一个小模型。<|im_end|>\n"
             "<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n<|im_start|>assistant\n2 + 3 = 5.<|im_end|>"},
    {"text": "预训练的目标是根据前面的 token 预测下一个 token。"},
    {"text": "A language model learns patterns from text by next-token prediction."},
]
MINIMIND_SFT = [
    {"conversations": [{"role": "system", "content": "你是一个简洁的 AI 助手。"},
                       {"role": "user", "content": "用一句话解释 tokenizer。"},
                       {"role": "assistant", "content": "tokenizer 负责把文本切分并映射成 token id。"}]},
    {"conversations": [{"role": "user", "content": "SFT 和预训练有什么区别？"},
                       {"role": "assistant", "content": "预训练学习普通文本，SFT 学习对话中的回复。"}]},
]


def test_minimind_format_files_train(tmp_path):
    data = tmp_path / "pretrain.jsonl"
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in MINIMIND_PRETRAIN * 40) + "\n",
                    encoding="utf-8")
    sft_data = tmp_path / "sft.jsonl"
    sft_data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in MINIMIND_SFT * 40) + "\n",
                        encoding="utf-8")
    ws = tmp_path / "ws"
    small = [a.replace("tokenizer.vocab_size=512", "tokenizer.vocab_size=400") for a in FAST]
    cli(["train", "--stage", "pretrain", "--data", str(data), "--max-steps", "4", "--out", str(tmp_path / "a"),
         *small], ws)
    cli(["train", "--stage", "sft", "--data", str(sft_data), "--init", str(tmp_path / "a"), "--max-steps", "4",
         "--out", str(tmp_path / "b"), *small], ws)
    done = [e for e in read_events_file(tmp_path / "b" / "events.jsonl") if e.event == "done"]
    assert done[-1].get("status") == "completed"
