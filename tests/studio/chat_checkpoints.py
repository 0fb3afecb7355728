"""Real tiny checkpoints for the Chat tests: two short runs of the real engine (pretrain, 2 layers, width 32,
one step each, different seeds) in one workspace, made once per session, and a sidebar click. tests/studio/conftest.py
holds the fixture, so every module shares the one session's checkpoints: do not import it into a test module."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TINY = ["--stage", "pretrain", "--max-steps", "1", "--set", "model.d_model=32", "--set", "model.n_layer=2",
        "--set", "model.n_head=2", "--set", "model.n_kv_head=2", "--set", "tokenizer.vocab_size=300",
        "--set", "run.batch_size=2", "--set", "data.seq_len=32", "--set", "run.task_eval_items=0",
        "--set", "run.sample_prompts=[]", "--set", "run.eval_batches=1", "--set", "hardware.threads=1",
        "--set", "hardware.device=cpu"]
RUNS = ("tiny-a", "tiny-b")


def click_nav(qtbot, win, page: str) -> None:
    """Click a page's entry in the main window's sidebar."""
    from PySide6.QtCore import Qt

    from studio.views.main_window import PAGES
    item = win.nav.item(PAGES.index(page))
    qtbot.mouseClick(win.nav.viewport(), Qt.MouseButton.LeftButton, pos=win.nav.visualItemRect(item).center())


def checkpoint_of(workspace: Path, run: str) -> str:
    folder = workspace / "runs" / run / "checkpoints"
    return str(folder / (folder / "latest").read_text(encoding="utf-8").strip())


@pytest.fixture(scope="session")
def chat_workspace(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("chat-ws")
    env = {**os.environ, "MINIGPT_HOME": str(ws), "PYTHONUNBUFFERED": "1"}
    for seed, run in enumerate(RUNS, 1):
        proc = subprocess.run([sys.executable, "-m", "engine.cli", "--workspace", str(ws), "train", *TINY,
                               "--seed", str(seed), "--out", str(ws / "runs" / run)],
                              env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
    return ws
