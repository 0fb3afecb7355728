"""A run trained by an engine outside this studio (started from a terminal, or kept running when the studio
closed) is shown as running, counted in the status bar, and controlled from its monitor through the run
folder's control channel: Pause, Resume, then Stop (saves a checkpoint and ends the run)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from PySide6.QtCore import Qt

from engine.protocol import read_events_file
from studio.engine_cmd import EngineCommand
from studio.models.run_scan import scan_run
from studio.views.main_window import MainWindow

pytestmark = pytest.mark.slow

FAST = ["--set", "model.d_model=32", "--set", "model.n_layer=1", "--set", "tokenizer.vocab_size=300",
        "--set", "run.batch_size=2", "--set", "data.seq_len=32", "--set", "run.task_eval_items=0",
        "--set", "run.sample_prompts=[]", "--eval-every", "0", "--checkpoint-every", "0",
        "--set", "run.log_every=1", "--set", "hardware.threads=1"]


def wait_for_step(events, n, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if events.is_file() and any(e.event == "step" and e.get("step") >= n for e in read_events_file(events)):
            return
        time.sleep(0.2)
    raise AssertionError(f"no step {n} in {events}")


def test_monitor_controls_a_run_started_outside_the_studio(qtbot, workspace):
    run = workspace / "runs" / "background-run"
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "--workspace", str(workspace), "train",
                             "--stage", "pretrain", "--max-steps", "100000", "--out", str(run), *FAST],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_step(run / "events.jsonl", 2)
        assert scan_run(run).status == "running"     # the Runs table: its lock is held

        win = MainWindow(EngineCommand(workspace=workspace), run_doctor=False)
        qtbot.addWidget(win)
        win.show()
        win.open_run(str(run))
        view = win.monitors.current()
        session = view.session
        qtbot.waitUntil(lambda: session.following and view.pause.isEnabled(), timeout=60_000)
        assert session.client is None and view.stop.isVisible() and view.stop.isEnabled()
        assert win.jobs_label.text() == "1 run training"

        qtbot.mouseClick(view.pause, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: session.state.status == "paused", timeout=60_000)
        assert view.resume.isEnabled() and not view.pause.isEnabled()
        paused_at = session.state.step
        qtbot.mouseClick(view.resume, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: session.state.status == "running" and session.state.step > paused_at,
                        timeout=60_000)

        qtbot.mouseClick(view.stop, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: session.state.status == "stopped", timeout=120_000)
        assert proc.wait(timeout=60) == 0
        qtbot.waitUntil(lambda: win.jobs_label.text() == "no runs training", timeout=10_000)
        assert not view.stop.isEnabled() and not session.live
        stops = [c for c in session.state.checkpoints if c[2] == "stop"]
        assert stops and (run / "checkpoints" / f"step-{stops[-1][0]:06d}" / "model.safetensors").is_file()
        xs = session.state.series["loss"].x.tolist()
        assert len(xs) == len(set(xs)), "each step is plotted once"
        assert scan_run(run).status == "stopped"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_run_whose_engine_died_is_interrupted_not_running(qtbot, workspace):
    run = workspace / "runs" / "killed-run"
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "--workspace", str(workspace), "train",
                             "--stage", "pretrain", "--max-steps", "100000", "--out", str(run), *FAST],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_step(run / "events.jsonl", 1)
        assert scan_run(run).status == "running"
    finally:
        proc.kill()
        proc.wait()
    assert scan_run(run).status == "interrupted"
