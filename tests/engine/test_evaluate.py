"""Evaluation: file perplexity (all tokens for text, assistant tokens only for SFT), exact-match accuracy, BLEU and
ROUGE on English and Chinese, and the `minigpt eval` report on a file and on the built-in data."""

from __future__ import annotations

import contextlib
import json
import math

import pytest
import torch
from inference_fixtures import *  # noqa: F403 - the toy / toy_lm session fixtures

from engine.data import builtin
from engine.errors import UserError
from engine.evaluate import accuracy_of, bleu, file_perplexity, loss_rows, rouge, task_accuracy

CHATS = [{"conversations": [{"role": "user", "content": f"What is {a} + {b}?"},
                            {"role": "assistant", "content": f"{a + b}"}]} for a, b in [(3, 4), (12, 35), (8, 1)]]


def write(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def test_text_perplexity_is_the_mean_token_loss(toy, tmp_path):
    path = write(tmp_path / "text.jsonl", [{"text": "the model learns to predict the next token."}])
    res = file_perplexity(toy.model, toy.tok, path, "pretrain", torch.device("cpu"), contextlib.nullcontext)
    ids = toy.tok.encode_document("the model learns to predict the next token.")
    with torch.no_grad():
        _, loss = toy.model(torch.tensor([ids[:-1]]), torch.tensor([ids[1:]]))
    assert res["tokens"] == len(ids) - 1
    assert res["loss"] == pytest.approx(float(loss), rel=1e-5) and res["ppl"] == pytest.approx(math.exp(res["loss"]))


def test_sft_perplexity_counts_assistant_tokens_only(toy, tmp_path):
    path = write(tmp_path / "sft.jsonl", CHATS)
    rows = loss_rows(toy.tok, path, "sft", toy.model.cfg.max_seq_len, None)
    expected = sum(sum(toy.tok.encode_chat(r["conversations"])[1][1:]) for r in CHATS)
    assert sum(t != -100 for _, ts in rows for t in ts) == expected
    longer = [{"conversations": [{"role": "user", "content": c["conversations"][0]["content"] * 3},
                                 c["conversations"][1]]} for c in CHATS]
    res = file_perplexity(toy.model, toy.tok, write(tmp_path / "long.jsonl", longer), "sft", torch.device("cpu"),
                          contextlib.nullcontext)
    assert res["tokens"] == expected, "longer user turns add no scored tokens"


def test_accuracy_checks_first_line_exactly():
    items = [{"task": "add", "answer": "7"}, {"task": "add", "answer": "47"}, {"task": "copy", "answer": "abc"}]
    res = accuracy_of(items, ["7\nand more", " 46", "abc."])
    assert res == {"accuracy": pytest.approx(2 / 3), "acc_add": 0.5, "acc_copy": 1.0}


def test_task_accuracy_keeps_its_signature(toy):
    items = [{"task": "add", "prompt": "What is 3 + 4?", "answer": "7"}]
    res = task_accuracy(toy.generator(), toy.tok, items, chat=True, batch_size=4, max_new_tokens=4)
    assert set(res) == {"accuracy", "acc_add"} and 0.0 <= res["accuracy"] <= 1.0


def test_bleu_and_rouge_in_both_languages():
    refs = ["the cat sat on the mat", "今天天气很好"]
    perfect = bleu(refs, refs)
    assert perfect["bleu"] == pytest.approx(100.0) and "tok:zh" in perfect["bleu_signature"]
    assert bleu(["a dog ran far away", "明天下雨"], refs)["bleu"] < 20
    assert rouge(refs, refs) == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0}
    half = rouge(["the cat", "今天天气"], refs)
    assert 0 < half["rouge1"] < 1, "Chinese must be scored per character, not dropped"


def test_eval_cli_on_an_sft_file(toy, tmp_path, capsys):
    from engine.cli import main
    data = write(tmp_path / "sft.jsonl", CHATS)
    report_path = tmp_path / "report.json"
    assert main(["eval", str(toy.folder), "--data", str(data), "--out", str(report_path), "--device", "cpu",
                 "--max-new-tokens", "8"]) == 0
    report = json.loads(report_path.read_text())
    assert {"loss", "ppl", "bleu", "rouge1", "rouge2", "rougeL"} <= set(report["metrics"])
    assert report["sources"]["ppl"]["scored"] == "assistant tokens"
    assert report["sources"]["generation"]["items"] == 3
    assert "ppl" in capsys.readouterr().out
    assert main(["eval", str(toy.folder), "--data", str(data), "--out", str(report_path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["eval", str(toy.folder), "--data", str(data), "--metrics", "ppl", "--reward", "x"]) == 2
    assert "not available yet" in capsys.readouterr().err
    text = write(tmp_path / "text.jsonl", [{"text": "hello there"}])
    assert main(["eval", str(toy.folder), "--data", str(text), "--metrics", "bleu"]) == 2
    assert "no references" in capsys.readouterr().err


def test_eval_on_builtin_data(toy, tmp_path, monkeypatch):
    monkeypatch.setattr(builtin, "RECORD_COUNTS", {stem: 20 for stem in builtin.RECORD_COUNTS})
    from engine.evaluate import evaluate_checkpoint
    from engine.inference import load_for_inference
    lm = load_for_inference(toy.folder, "cpu")
    report = evaluate_checkpoint(lm, "builtin", ["ppl", "accuracy", "bleu", "rouge"], tmp_path / "ws", limit=14,
                                 batch_size=8)
    m = report["metrics"]
    assert m["ppl"] > 1 and 0 <= m["accuracy"] <= 1 and "bleu" in m and "rougeL" in m
    assert report["sources"]["ppl"]["file"].endswith("sft_val.jsonl")
    assert report["sources"]["generation"]["items"] == 14 and any(k.startswith("acc_") for k in m)
    with pytest.raises(UserError, match="unknown metric"):
        evaluate_checkpoint(lm, "builtin", ["f1"], tmp_path / "ws")
