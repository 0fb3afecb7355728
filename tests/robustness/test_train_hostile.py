"""Hostile and careless training input through the real engine: a diverging run, configs that cannot fit in
memory, a YAML alias bomb, absurd beam counts, and signals during set-up. Each case must end quickly with a
clear message and leave nothing wrong on disk. Every case here failed before issue #8 items 6 and 7.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

TOY = ["--set", "model.d_model=32", "--set", "model.n_layer=1", "--set", "model.n_head=2",
       "--set", "model.n_kv_head=2", "--set", "tokenizer.vocab_size=300", "--set", "run.batch_size=2",
       "--set", "data.seq_len=16", "--set", "run.task_eval_items=0", "--set", "run.sample_prompts=[]",
       "--set", "run.eval_batches=1", "--set", "hardware.threads=1", "--set", "hardware.device=cpu",
       "--eval-every", "0"]
GIB_REFUSAL = r"needs ~\d+\.\d GiB, this machine has \d+\.\d GiB free; lower "
CONFIG_GIB_REFUSAL = r": [\d,]+ needs ~[\d,]+\.\d GiB, this machine has [\d,]+\.\d GiB"


def minigpt(args: list[str], ws: Path, timeout: float = 300) -> tuple[subprocess.CompletedProcess, list[dict]]:
    extra = ["--events", "jsonl"] if args[0] == "train" else []
    env = {**os.environ, "MINIGPT_HOME": str(ws)}
    proc = subprocess.run([sys.executable, "-m", "engine.cli", *args, *extra], env=env, capture_output=True,
                          text=True, timeout=timeout)
    return proc, [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


PEAK_WRAPPER = """\
import atexit, runpy, sys
hwm_file = sys.argv.pop(1)
def report():
    try:
        hwm = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return
    open(hwm_file, "w").write(str(hwm))
atexit.register(report)
sys.argv[0] = "minigpt"
runpy.run_module("engine.cli", run_name="__main__", alter_sys=True)
"""


def minigpt_measured(args: list[str], ws: Path, timeout: float = 120
                     ) -> tuple[subprocess.CompletedProcess, list[dict], int]:
    """minigpt(args) with --events jsonl, and the process's own peak RSS in bytes.

    On Linux the peak is the engine's VmHWM, written at exit: wait4's ru_maxrss also counts the pages of the forked
    pytest process (the kernel carries its high-water mark across exec), which is ~1 GB late in a full suite."""
    hwm_file = Path(tempfile.mkdtemp()) / "hwm"
    cmd = [sys.executable, "-c", PEAK_WRAPPER, str(hwm_file), *args, "--events", "jsonl"]
    env = {**os.environ, "MINIGPT_HOME": str(ws)}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                p.kill()
                pytest.fail(f"{args} still running after {timeout} s")
            time.sleep(0.05)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        proc = subprocess.CompletedProcess(cmd, p.returncode, out.read().decode(), err.read().decode())
    peak = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    if hwm_file.is_file() and int(hwm_file.read_text() or -1) > 0:
        peak = int(hwm_file.read_text())
    return proc, [json.loads(line) for line in proc.stdout.splitlines() if line.strip()], peak


def text_file(path: Path, n: int) -> Path:
    lines = [json.dumps({"text": f"Record {i}: the cat number {i} sat on mat {i * 7}. 猫坐在垫子上。"})
             for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def clear_failure(proc: subprocess.CompletedProcess, events: list[dict], kind: str) -> dict:
    """The one error event of a run that failed cleanly: exit 2, no traceback, error then done(failed)."""
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    errors = [e for e in events if e["event"] == "error"]
    assert len(errors) == 1 and errors[0]["kind"] == kind, errors
    assert events[-1]["event"] == "done" and events[-1]["status"] == "failed"
    return errors[0]


# ---------------------------------------------------------------- 6. a diverging run
@pytest.fixture(scope="module")
def diverged_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess, list[dict]]:
    """lr 1e6 with no warm-up: step 1 is finite and wrecks the weights, every later step is NaN/inf."""
    tmp = tmp_path_factory.mktemp("diverged")
    data = text_file(tmp / "text.jsonl", 60)
    run = tmp / "run"
    proc, events = minigpt(["train", "--stage", "pretrain", "--data", str(data), "--out", str(run), *TOY,
                            "--max-steps", "40", "--checkpoint-every", "1", "--set", "optim.lr=1e6",
                            "--set", "optim.warmup_steps=0", "--set", "run.log_every=1",
                            "--set", "run.max_nonfinite_steps=3"], tmp / "ws")
    return run, proc, events


def test_diverged_run_fails_as_diverged_and_names_the_step(diverged_run):
    run, proc, events = diverged_run
    err = clear_failure(proc, events, "diverged")
    steps = [e for e in events if e["event"] == "step"]
    first_bad = first_skipped_step(events)
    # The third non-finite step in a row stops the run, before its step event.
    assert first_bad >= 2 and steps[-1]["step"] == first_bad + 1
    assert [e["skipped_steps"] for e in steps] == [0] * (first_bad - 1) + [1, 2]
    assert f"diverged at step {first_bad + 2}: non-finite" in err["message"]
    assert "nan" in err["message"] and "run.max_nonfinite_steps is 3" in err["message"]
    assert "lower optim.lr" in err["hint"]


def first_skipped_step(events: list[dict]) -> int:
    return next(e["step"] for e in events if e["event"] == "step" and e["skipped_steps"])


def test_diverged_run_never_moves_latest_past_the_last_finite_weights(diverged_run):
    import numpy as np
    from safetensors.numpy import load_file

    run, _, events = diverged_run
    ckpts, last_good = run / "checkpoints", first_skipped_step(events) - 1
    assert (ckpts / "latest").read_text().strip() == f"step-{last_good:06d}"
    assert max(p.name for p in ckpts.glob("step-*")) == f"step-{last_good:06d}"
    assert not (ckpts / "best").exists()
    saved = [e["step"] for e in events if e["event"] == "checkpoint"]
    assert saved == list(range(1, last_good + 1))  # one a step (--checkpoint-every 1) until the first NaN/inf
    weights = load_file(ckpts / f"step-{last_good:06d}" / "model.safetensors")
    assert all(np.isfinite(w).all() for w in weights.values())


def test_studio_marks_the_diverged_run_diverged(diverged_run, qapp):
    from engine.protocol import parse_event
    from studio.models.run_scan import scan_run
    from studio.models.run_state import RunState

    run, _, _ = diverged_run
    state = RunState()
    state.apply_many([parse_event(line) for line in (run / "events.jsonl").read_text().splitlines()])
    assert state.status == "diverged" and state.finished
    assert state.error is not None and "diverged" in state.error.message
    assert state.skipped_steps == 2 and "skipped_steps" not in state.series  # counted, not plotted
    state.mark_failed("engine exited with code 2")  # what the client adds afterwards keeps the better word
    assert state.status == "diverged"
    assert scan_run(run).status == "diverged"


# ---------------------------------------------------------------- 7. memory: refuse before allocating
@pytest.mark.parametrize(("override", "key"), [
    ("run.batch_size=100000", "run.batch_size"),
    ("model.n_layer=1000000", "model.n_layer"),
    ("model.d_model=131072", "model.d_model"),
])
def test_runs_that_cannot_fit_are_refused_before_allocating(tmp_path, override, key):
    t0 = time.perf_counter()
    proc, events, peak_rss = minigpt_measured(["train", "--out", str(tmp_path / "run"), "--max-steps", "2",
                                               "--set", override], tmp_path / "ws")
    elapsed = time.perf_counter() - t0
    err = clear_failure(proc, events, "config")   # refused with the config, before torch loads (config_limits)
    assert re.match(re.escape(key) + CONFIG_GIB_REFUSAL, err["message"]), err["message"]
    assert "GiB" in err["hint"] and f"lower {key}" in err["hint"]
    assert not any(e["event"] == "progress" for e in events)  # refused before data and tokenizer work
    assert peak_rss < 1 * 2**30, peak_rss  # no big allocation: a plain engine start is ~250 MB with torch
    assert elapsed < 60, elapsed  # a bare engine start, even on a loaded 2-core machine


def test_yaml_alias_bomb_is_refused_with_the_file(tmp_path):
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(levels) + "\nrun: {sample_prompts: *i}\n", encoding="utf-8")
    assert bomb.stat().st_size < 500  # expands to 9**9 strings if walked
    t0 = time.perf_counter()
    proc, events = minigpt(["train", str(bomb), "--out", str(tmp_path / "run")], tmp_path / "ws", timeout=120)
    err = clear_failure(proc, events, "config")
    assert "bomb.yaml:2" in err["message"] and "alias" in err["message"]
    assert time.perf_counter() - t0 < 60


# ---------------------------------------------------------------- generation bounds
@pytest.fixture(scope="module")
def toy_checkpoint(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("ckpt")
    data = text_file(tmp / "text.jsonl", 60)
    proc, _ = minigpt(["train", "--stage", "pretrain", "--data", str(data), "--out", str(tmp / "run"), *TOY,
                       "--max-steps", "1"], tmp / "ws")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return tmp / "run"


@pytest.mark.parametrize(("args", "needles"), [
    (["--prompt", "hi", "--num-beams", "100000", "--temperature", "0"], ["num_beams=100000", "at most 64"]),
    (["--mode", "batch", "--batch-size", "4"], ["prompts.jsonl:2: num_beams=100000", "at most 64"]),
])
def test_generation_refuses_absurd_beam_counts(toy_checkpoint, tmp_path, args, needles):
    if "batch" in args:
        prompts = tmp_path / "prompts.jsonl"
        prompts.write_text(json.dumps({"prompt": "a"}) + "\n" + json.dumps(
            {"prompt": "b", "params": {"num_beams": 100000, "temperature": 0}}) + "\n", encoding="utf-8")
        args = [*args, "--input", str(prompts), "--output", str(tmp_path / "out.jsonl")]
    t0 = time.perf_counter()
    proc, _ = minigpt(["generate", str(toy_checkpoint), *args], tmp_path, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    for n in needles:
        assert n in proc.stderr, proc.stderr
    assert not (tmp_path / "out.jsonl").exists()
    assert time.perf_counter() - t0 < 60


def test_decode_memory_check_names_the_knob_and_the_numbers(toy_checkpoint):
    from engine.cli_inference import check_decode_memory
    from engine.errors import UserError
    from engine.inference import load_for_inference

    lm = load_for_inference(toy_checkpoint, "cpu")
    check_decode_memory(lm, 8, 64, "--batch-size")  # a normal batch fits
    with pytest.raises(UserError) as e:  # ~1e9 rows of KV cache fit on no machine
        check_decode_memory(lm, 10**9, 64, "--batch-size")
    assert re.search(GIB_REFUSAL + "--batch-size$", e.value.message), e.value.message


# ---------------------------------------------------------------- signals during set-up
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_setup_stops_at_once(tmp_path, sig):
    """Set-up (tokenizer, pretokenizing) takes seconds here; the signal must end it there, not after it."""
    data = text_file(tmp_path / "big.jsonl", 40000)
    run = tmp_path / "run"
    env = {**os.environ, "MINIGPT_HOME": str(tmp_path / "ws")}
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "train", "--stage", "pretrain", "--data", str(data),
                             "--out", str(run), *TOY, "--max-steps", "5", "--events", "jsonl"],
                            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    events = []
    for line in proc.stdout:  # the first progress event is from inside set-up (tokenizer training)
        events.append(json.loads(line))
        if events[-1]["event"] == "progress":
            break
    proc.send_signal(sig)
    t0 = time.perf_counter()
    out, err = proc.communicate(timeout=120)
    elapsed = time.perf_counter() - t0
    events += [json.loads(line) for line in out.splitlines() if line.strip()]
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err
    assert events[-1]["event"] == "done" and events[-1]["status"] == "stopped"
    kinds = {e["event"] for e in events}
    assert "config" not in kinds and "step" not in kinds and "checkpoint" not in kinds, kinds
    assert not (run / "checkpoints").exists()
    assert elapsed < 60, elapsed
