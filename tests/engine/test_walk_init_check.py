"""A damaged --init checkpoint is refused before the data is tokenized: its model.safetensors header is read first
(the walkthrough saw a truncated file fail only after a minute of SFT pretokenization)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from engine import checkpoint as ckpt
from engine.errors import UserError
from engine.model.gpt import GPT
from engine.protocol import read_events_file


@pytest.fixture
def damaged(model_cfg, tok, tmp_path):
    cfg = model_cfg()
    folder = ckpt.save_checkpoint(tmp_path / "run" / "checkpoints", 1, GPT(cfg), cfg, tok.to_json(), None,
                                  {"stage": "pretrain"})
    ckpt.check_weights_file(folder)   # whole: accepted
    data = (folder / ckpt.WEIGHTS).read_bytes()
    for cut in (len(data) // 2, 5, 0):
        (folder / ckpt.WEIGHTS).write_bytes(data[:cut])
        with pytest.raises(UserError, match="model.safetensors: cannot read weights"):
            ckpt.check_weights_file(folder)
    (folder / ckpt.WEIGHTS).write_bytes(data[: len(data) // 2])
    return folder


@pytest.mark.slow
def test_sft_from_a_truncated_checkpoint_fails_before_pretokenizing(damaged, workspace, tmp_path, jsonl):
    chats = jsonl(tmp_path / "chats.jsonl", [{"messages": [{"role": "user", "content": f"Say {i}"},
                                                           {"role": "assistant", "content": str(i)}]}
                                             for i in range(50)])
    out = tmp_path / "sft"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "train", "--stage", "sft", "--init", str(damaged),
                           "--data", str(chats), "--max-steps", "1", "--out", str(out),
                           "--set", "hardware.threads=1", "--set", "data.seq_len=32"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 2, proc.stderr
    assert "model.safetensors: cannot read weights" in proc.stderr and "hint:" in proc.stderr
    assert "Traceback" not in proc.stderr
    phases = [e.get("phase") for e in read_events_file(out / "events.jsonl") if e.event == "progress"]
    assert not any(str(p).startswith("pretokenize") for p in phases), phases
