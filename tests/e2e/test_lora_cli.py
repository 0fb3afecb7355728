"""LoRA through the real CLI: an adapter run from a pretrain checkpoint, `minigpt chat` on the adapter checkpoint
(merged at load time), and `minigpt lora merge` giving a folder that generates the same greedy text."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import FAST, cli

pytestmark = pytest.mark.slow


def test_chat_and_generate_on_an_adapter_checkpoint_and_its_merge(workspace, tmp_path):
    pre, sft, merged = tmp_path / "pre", tmp_path / "sft", tmp_path / "merged"
    cli(["train", "--stage", "pretrain", "--max-steps", "3", "--out", str(pre), *FAST], workspace)
    # lr_ratio 1: at the default 3x these 3 steps leave a model whose first greedy token ends the raw text too, and an
    # empty completion would compare nothing (the merge is what is tested here, not the lr)
    cli(["train", "--stage", "sft", "--init", str(pre), "--max-steps", "3", "--out", str(sft), *FAST,
         "--set", "lora.rank=4", "--set", "lora.lr_ratio=1"], workspace)
    adapter = sft / "checkpoints" / "step-000003"
    assert "lora" in json.loads((adapter / "config.json").read_text())

    chat = cli(["chat", str(sft), "--temperature", "0", "--max-new-tokens", "6"], workspace, input="hello\n")
    assert "model>" in chat.stdout and "error" not in chat.stderr

    cli(["lora", "merge", str(sft), "--out", str(merged)], workspace)
    # raw continuation: a model this briefly trained often ends a chat reply at once, which would compare nothing
    greedy = ["--prompt", "What is 2 + 3?", "--template", "raw", "--temperature", "0", "--max-new-tokens", "12",
              "--json"]
    a = json.loads(cli(["generate", str(sft), *greedy], workspace).stdout)
    b = json.loads(cli(["generate", str(merged), *greedy], workspace).stdout)
    assert a["completion"] == b["completion"] and a["completion_tokens"] > 0

    # a pretrain folder is no adapter: a clear refusal, not a traceback
    proc = cli(["lora", "merge", str(pre), "--out", str(tmp_path / "m2")], workspace, check=False)
    assert proc.returncode == 2 and "not a LoRA adapter checkpoint" in proc.stderr
