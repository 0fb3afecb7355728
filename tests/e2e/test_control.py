"""`minigpt control RUN_DIR pause|resume|save|stop` on a real engine whose stdin is closed: the run folder's
control channel is the only way in, the engine acts between steps and the CLI reports the matching event."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from engine.protocol import read_events_file
from tests.e2e.conftest import FAST, cli

pytestmark = pytest.mark.slow


def wait_for(path, predicate, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file():
            hits = [e for e in read_events_file(path) if predicate(e)]
            if hits:
                return hits[-1]
        time.sleep(0.1)
    raise AssertionError(f"no matching event in {path} within {timeout} s")


def test_control_pause_resume_save_stop_a_run_without_a_pipe(workspace, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "MINIGPT_HOME": str(workspace)}
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "train", "--stage", "pretrain", "--out", str(out),
                             "--max-steps", "100000", "--eval-every", "0", "--checkpoint-every", "0",
                             "--set", "run.log_every=1", *FAST],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    events = out / "events.jsonl"
    try:
        wait_for(events, lambda e: e.event == "step" and e.get("step") >= 2)
        r = cli(["control", str(out), "pause"], workspace)
        paused = wait_for(events, lambda e: e.event == "paused")
        assert f"paused at step {paused.get('step')}" in r.stdout
        time.sleep(1.0)  # paused means no steps are taken
        steps = [e.get("step") for e in read_events_file(events) if e.event == "step"]
        assert max(steps) == paused.get("step")
        assert "already paused" in cli(["control", str(out), "pause"], workspace).stdout

        r = cli(["control", str(out), "save"], workspace)
        saved = wait_for(events, lambda e: e.event == "checkpoint" and e.get("reason") == "manual")
        assert saved.get("step") == paused.get("step") and f"step {paused.get('step')}" in r.stdout
        assert (out / "checkpoints" / f"step-{paused.get('step'):06d}" / "model.safetensors").is_file()

        r = cli(["control", str(out), "resume"], workspace)
        assert "resumed" in r.stdout
        wait_for(events, lambda e: e.event == "step" and e.get("step") > paused.get("step"))

        r = cli(["control", str(out), "stop"], workspace)
        assert "the run ended: stopped" in r.stdout
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    done = read_events_file(events)[-1]
    assert done.event == "done" and done.get("status") == "stopped"
    stop_ckpt = [e for e in read_events_file(events) if e.event == "checkpoint" and e.get("reason") == "stop"]
    assert stop_ckpt and (out / "checkpoints" / f"step-{done.get('summary')['steps']:06d}").is_dir()
    assert not any((out / "control").iterdir())  # every command file was taken

    # No engine owns the run any more: refused, with the way to continue it.
    r = cli(["control", str(out), "stop"], workspace, check=False)
    assert r.returncode == 2 and "no live engine owns" in r.stderr and "--resume" in r.stderr
    assert not any((out / "control").iterdir())  # a refused command leaves nothing behind for a later engine


def test_control_refuses_a_folder_that_is_not_a_run(workspace, tmp_path):
    r = cli(["control", str(tmp_path), "pause"], workspace, check=False)
    assert r.returncode == 2 and "not a run folder" in r.stderr
