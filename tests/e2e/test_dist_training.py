"""Training in two processes (torch.distributed, gloo on the CPU) equals training in one with the same global
batch: DDP through `minigpt train --nproc 2` (with gradient accumulation) and FSDP2 through torchrun itself with
a run YAML. A two-process FSDP checkpoint resumes on one process; a rank killed with SIGKILL ends the run cleanly
with its last checkpoint intact."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from engine import checkpoint as ckpt
from engine.protocol import read_events_file, write_control_command
from tests.e2e.conftest import FAST, cli

pytestmark = pytest.mark.slow

STEPS = ["--max-steps", "20", "--eval-every", "0", "--set", "run.log_every=1"]
RTOL = 1e-4


def losses(run_dir, after_resume: bool = False) -> dict[int, float]:
    events = read_events_file(run_dir / "events.jsonl")
    if after_resume:
        events = events[max(i for i, e in enumerate(events) if e.event == "hello"):]
    return {e.get("step"): e.get("loss") for e in events if e.event == "step"}


def max_rel_diff(a: dict[int, float], b: dict[int, float]) -> float:
    assert sorted(b) and set(b) <= set(a)
    return max(abs(a[s] - b[s]) / abs(a[s]) for s in b)


@pytest.fixture(scope="module")
def single(workspace, tmp_path_factory):
    """One process, 4 sequences a step: the reference both parallel runs must repeat."""
    out = tmp_path_factory.mktemp("single") / "run"
    cli(["train", "--stage", "pretrain", "--out", str(out), *STEPS, *FAST, "--set", "run.batch_size=4"], workspace)
    return losses(out)


def test_ddp_with_accumulation_matches_one_process(workspace, single, tmp_path):
    """2 processes x batch 1 x grad_accum 2 = 4 sequences a step: no_sync on the first micro-batch."""
    out = tmp_path / "ddp"
    t0 = time.monotonic()
    cli(["train", "--stage", "pretrain", "--out", str(out), *STEPS, *FAST, "--set", "run.batch_size=1",
         "--set", "run.grad_accum=2", "--set", "hardware.parallel=ddp", "--nproc", "2"], workspace)
    got = losses(out)
    assert sorted(got) == list(range(1, 21))
    diff = max_rel_diff(single, got)
    print(f"ddp: max relative loss difference {diff:.2e} over 20 steps ({time.monotonic() - t0:.1f} s)")
    assert diff < RTOL
    assert not list(out.glob("checkpoints/*/optimizer"))  # DDP saves as one process does: optimizer in the state


def test_fsdp_by_torchrun_matches_one_process_and_resumes_on_one(workspace, single, tmp_path):
    """torchrun -m engine.cli train RUN.yaml with hardware.parallel fsdp, 2 processes x batch 1 x grad_accum 2
    (set_requires_gradient_sync off on the first micro-batch); then its step-10 checkpoint (sharded optimizer)
    continues on one process with batch 4 and repeats the reference's steps 11-20."""
    out = tmp_path / "fsdp"
    yaml = tmp_path / "run.yaml"
    yaml.write_text("stage: {name: pretrain}\nhardware: {parallel: fsdp}\n"
                    "run: {batch_size: 1, grad_accum: 2, checkpoint_every: 10}\n")
    env = {**os.environ, "MINIGPT_HOME": str(workspace), "PYTHONUNBUFFERED": "1"}
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "engine.cli", "train", str(yaml), "--out", str(out), *STEPS, *FAST,
                           "--set", "run.batch_size=1"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = losses(out)
    assert sorted(got) == list(range(1, 21))
    diff = max_rel_diff(single, got)
    print(f"fsdp: max relative loss difference {diff:.2e} over 20 steps ({time.monotonic() - t0:.1f} s)")
    assert diff < RTOL
    step10 = out / "checkpoints" / "step-000010"
    assert (step10 / "optimizer" / ".metadata").is_file()
    assert "optimizer" not in ckpt.load_trainer_state(step10)
    # The weights are the ordinary full file: any tool reads them without knowing how the run was trained.
    assert set(ckpt.read_weights(step10)) >= {"embed.weight", "norm.weight"}

    shutil.rmtree(out / "checkpoints" / "step-000020")  # as if the run had stopped after step 10
    t0 = time.monotonic()
    cli(["train", "--resume", str(out), "--set", "run.batch_size=4", "--set", "run.grad_accum=1",
         "--set", "hardware.parallel=none"], workspace)
    resumed = losses(out, after_resume=True)
    assert sorted(resumed) == list(range(11, 21))
    diff = max_rel_diff(single, resumed)
    print(f"fsdp -> 1 process resume: max relative loss difference {diff:.2e} ({time.monotonic() - t0:.1f} s)")
    assert diff < RTOL


def rank_pid(launcher: int, rank: int) -> int | None:
    for child in psutil.Process(launcher).children(recursive=True):
        try:
            if child.environ().get("RANK") == str(rank) and "engine.cli" in " ".join(child.cmdline()):
                return child.pid
        except psutil.Error:
            continue
    return None


def test_commands_reach_every_rank_and_a_killed_rank_fails_the_run_cleanly(workspace, tmp_path):
    """Pause (stdin), save (the control folder) and resume reach both FSDP ranks: the save is collective, so a
    rank that missed it would hang the run. Then SIGKILL rank 1 after the next periodic checkpoint: rank 0 reports
    the lost peer (error + done failed), torchrun exits non-zero without hanging, and that checkpoint stays whole
    and loadable."""
    out = tmp_path / "killed"
    env = {**os.environ, "MINIGPT_HOME": str(workspace), "PYTHONUNBUFFERED": "1"}
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "train", "--stage", "pretrain", "--out", str(out),
                             "--events", "jsonl", *STEPS, "--checkpoint-every", "5", *FAST,
                             "--set", "run.batch_size=2", "--set", "hardware.parallel=fsdp", "--nproc", "2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.PIPE, text=True)
    killed, last, seen = None, None, []
    for line in proc.stdout:
        ev = json.loads(line)
        seen.append(ev["event"])
        if ev["event"] == "step" and ev["step"] == 2:
            proc.stdin.write('{"cmd": "pause"}\n')
            proc.stdin.flush()
        elif ev["event"] == "paused":
            write_control_command(out, "save")
        elif ev["event"] == "checkpoint" and ev["reason"] == "manual":
            assert (Path(ev["path"]) / "optimizer" / ".metadata").is_file()
            proc.stdin.write('{"cmd": "resume"}\n')
            proc.stdin.flush()
        elif ev["event"] == "checkpoint" and ev["reason"] == "periodic" and "resumed" in seen and killed is None:
            killed, last = rank_pid(proc.pid, 1), ev["step"]
            os.kill(killed, signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    print(f"killed rank 1 at step {last}; the run ended in {time.monotonic() - t0:.1f} s")
    assert killed is not None, f"no periodic checkpoint after the resume; events: {seen}, stderr: {err[-1500:]}"
    assert seen.index("paused") < seen.index("resumed")
    assert proc.returncode not in (0, None)
    events = read_events_file(out / "events.jsonl")
    errors = [e for e in events if e.event == "error"]
    assert errors and errors[-1].get("kind") == "distributed", err[-2000:]
    assert events[-1].event == "done" and events[-1].get("status") == "failed"
    kept = out / "checkpoints" / ckpt.step_dir_name(last)  # the last checkpoint before the kill
    assert kept in ckpt.step_folders(out / "checkpoints")
    assert all(not ckpt.missing_parts(p) for p in ckpt.step_folders(out / "checkpoints"))
    assert not ckpt.missing_parts(ckpt.resolve_checkpoint(out))
    assert not [p for p in (out / "checkpoints").iterdir() if ".tmp-" in p.name]
    ckpt.read_weights(kept)
    assert (kept / "optimizer" / ".metadata").is_file()
