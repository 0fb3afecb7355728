"""The studio's controls on a real engine process: pause, save while paused, resume, stop (save and exit),
and SIGTERM as a clean stop. Every event also lands in the run's events.jsonl."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from engine.protocol import read_events_file
from tests.e2e.conftest import FAST

pytestmark = pytest.mark.slow


def start(workspace, out, steps=100000):
    env = {**os.environ, "MINIGPT_HOME": str(workspace)}
    return subprocess.Popen([sys.executable, "-m", "engine.cli", "train", "--stage", "pretrain", "--out", str(out),
                             "--events", "jsonl", "--max-steps", str(steps), "--eval-every", "0",
                             "--checkpoint-every", "0", "--set", "run.log_every=1", *FAST],
                            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def send(proc, cmd):
    proc.stdin.write(json.dumps({"cmd": cmd}) + "\n")
    proc.stdin.flush()


def read_until(proc, predicate):
    for line in proc.stdout:
        ev = json.loads(line)
        assert ev["v"] == 1 and "t" in ev
        if predicate(ev):
            return ev
    raise AssertionError(f"stream ended; stderr: {proc.stderr.read()[-2000:]}")


def test_pause_save_resume_stop(workspace, tmp_path):
    out = tmp_path / "run"
    proc = start(workspace, out)
    try:
        read_until(proc, lambda e: e["event"] == "step" and e["step"] >= 2)
        send(proc, "pause")
        paused = read_until(proc, lambda e: e["event"] == "paused")
        send(proc, "save")
        saved = read_until(proc, lambda e: e["event"] == "checkpoint")
        assert saved["reason"] == "manual" and saved["step"] == paused["step"]
        assert (out / "checkpoints" / f"step-{paused['step']:06d}" / "model.safetensors").is_file()
        send(proc, "resume")
        read_until(proc, lambda e: e["event"] == "resumed")
        after = read_until(proc, lambda e: e["event"] == "step")
        assert after["step"] == paused["step"] + 1
        send(proc, "stop")
        stopped = read_until(proc, lambda e: e["event"] == "checkpoint")
        assert stopped["reason"] == "stop"
        done = read_until(proc, lambda e: e["event"] == "done")
        assert done["status"] == "stopped"
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
    kinds = [e.event for e in read_events_file(out / "events.jsonl")]
    for k in ("hello", "config", "step", "paused", "checkpoint", "resumed", "done"):
        assert k in kinds
    assert (out / "checkpoints" / "latest").read_text().strip() == f"step-{stopped['step']:06d}"


def test_sigterm_saves_and_stops(workspace, tmp_path):
    out = tmp_path / "run"
    proc = start(workspace, out)
    try:
        read_until(proc, lambda e: e["event"] == "step")
        proc.send_signal(signal.SIGTERM)
        done = read_until(proc, lambda e: e["event"] == "done")
        assert done["status"] == "stopped"
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
    assert (out / "checkpoints" / "latest").is_file()


def test_garbage_on_stdin_is_logged_not_fatal(workspace, tmp_path):
    proc = start(workspace, tmp_path / "run", steps=6)
    try:
        proc.stdin.write("this is not json\n")
        proc.stdin.flush()
        warning = read_until(proc, lambda e: e["event"] == "log" and e["level"] == "warning")
        assert "not JSON" in warning["message"]
        assert read_until(proc, lambda e: e["event"] == "done")["status"] == "completed"
    finally:
        proc.kill()
