"""Shared set-up for end-to-end tests: a workspace whose built-in data and tokenizer are built once per session,
and a helper that runs the real `minigpt` CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Small and fast, but the real engine: a toy model over the built-in data with a small tokenizer. fp32 is pinned:
# these tests compare losses across runs exactly, and auto picks bf16 on CPUs with AVX512-BF16 or AMX.
FAST = ["--set", "model.d_model=64", "--set", "model.n_layer=2", "--set", "tokenizer.vocab_size=512",
        "--set", "run.batch_size=4", "--set", "data.seq_len=64", "--set", "run.task_eval_items=0",
        "--set", "run.sample_prompts=[]", "--set", "run.eval_batches=2", "--set", "hardware.threads=1",
        "--set", "hardware.precision=fp32"]


def cli(args: list[str], workspace: Path, check: bool = True, timeout: float = 300,
        **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "MINIGPT_HOME": str(workspace), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, "-m", "engine.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"minigpt {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Path:
    """A workspace where the built-in data and the fast tokenizer are already cached."""
    ws = tmp_path_factory.mktemp("workspace")
    cli(["train", "--stage", "pretrain", "--max-steps", "1", "--out", str(ws / "warmup"), *FAST], ws)
    return ws


def kill_after_checkpoint(args: list[str], out: Path, workspace: Path, step: int = 3) -> None:
    """Start `minigpt train ARGS --out OUT`, SIGKILL it right after its step-`step` checkpoint, and check it died
    there: what a crash mid-run leaves behind, for the exact-resume tests."""
    import json
    import signal
    env = {**os.environ, "MINIGPT_HOME": str(workspace)}
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "train", *args, "--out", str(out),
                             "--events", "jsonl"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.PIPE, text=True)
    killed_at = None
    for line in proc.stdout:
        ev = json.loads(line)
        if ev["event"] == "checkpoint" and ev["step"] == step:
            killed_at = ev["step"]
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=120)
    assert killed_at == step and proc.returncode == -signal.SIGKILL
