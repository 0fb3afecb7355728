"""Resume from the Runs table with a real engine: a stopped run continues from its checkpoint as one engine,
shows as running (not the replayed `stopped`), plots no step twice, and ends completed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from engine.protocol import make_command
from studio.engine_cmd import EngineCommand
from studio.models.runs_table import RunsTableModel
from studio.run_manager import RunManager

pytestmark = pytest.mark.slow

FAST = ["--set", "model.d_model=32", "--set", "model.n_layer=1", "--set", "tokenizer.vocab_size=300",
        "--set", "run.batch_size=2", "--set", "data.seq_len=32", "--set", "run.task_eval_items=0",
        "--set", "run.sample_prompts=[]", "--eval-every", "0", "--set", "run.log_every=1"]


def test_resume_a_stopped_run_from_the_runs_table(qtbot, workspace, tmp_path):
    run = workspace / "runs" / "stopped-run"
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "--workspace", str(workspace), "train",
                             "--stage", "pretrain", "--max-steps", "400", "--out", str(run), "--events", "jsonl",
                             *FAST], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    for line in proc.stdout:
        if json.loads(line).get("step", 0) >= 3:
            proc.stdin.write(json.dumps(make_command("stop")) + "\n")
            proc.stdin.flush()
            break
    assert proc.wait(timeout=120) == 0
    stopped_at = int((run / "checkpoints" / "latest").read_text().strip()[5:])

    manager = RunManager(EngineCommand(workspace=workspace), RunsTableModel(workspace / "runs"))
    session = manager.resume(str(run))
    assert manager.resume(str(run)) is session, "a second click must not start a second engine"
    qtbot.waitUntil(lambda: session.state.status == "running" and session.state.step > stopped_at, timeout=120_000)
    assert manager.running_count() == 1
    session.client.send("stop")
    qtbot.waitUntil(lambda: session.state.status == "stopped", timeout=60_000)
    xs = session.state.series["loss"].x.tolist()
    assert xs == sorted(xs) and len(xs) == len(set(xs)), "each step is plotted once"
    qtbot.waitUntil(lambda: not session.live, timeout=60_000)
