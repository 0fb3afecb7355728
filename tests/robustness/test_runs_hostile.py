"""Hostile and careless use of training runs, through the real `minigpt` CLI on a toy model: kills mid-save,
stale pointers, full disks, symlink loops, impossible flags, NaN weights, unfinished run folders and --resume
with the original flags. Each case ends in one clear message (path or key, cause, hint) or in the right run,
never in a traceback, and nothing a user owns is lost.
"""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import FAST

pytestmark = pytest.mark.slow

STEPS = ["--max-steps", "4", "--checkpoint-every", "2", "--eval-every", "0"]


def minigpt(args: list[str], ws: Path, events: bool = True, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    extra = ["--events", "jsonl"] if events and args[0] == "train" else []
    env = {**os.environ, "MINIGPT_HOME": str(ws), "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "engine.cli", *args, *extra], env=env, capture_output=True, text=True,
                          timeout=timeout, **kw)


def events_of(proc: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def assert_clear_failure(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, f"rc {proc.returncode}: {proc.stderr[-2000:]}"
    assert "Traceback" not in proc.stderr and "enforce fail" not in proc.stderr, proc.stderr[-2000:]
    assert "error:" in proc.stderr and "hint:" in proc.stderr, proc.stderr[-2000:]
    for n in needles:
        assert n in proc.stderr, f"{n!r} not in {proc.stderr[-2000:]!r}"


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    """A workspace with the built-in data, its tokenizer and its pretokenized shards cached."""
    return tmp_path_factory.mktemp("ws")


@pytest.fixture(scope="module")
def base_run(ws) -> Path:
    """A finished 4-step run with checkpoints at steps 2 and 4 (copy it before changing it)."""
    run = ws / "base"
    proc = minigpt(["train", "--stage", "pretrain", "--out", str(run), *STEPS, *FAST], ws, events=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run


@pytest.fixture
def run_copy(base_run, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(base_run, copy)
    return copy


def nan_checkpoint(base_run: Path, tmp_path: Path) -> Path:
    from safetensors.torch import load_file, save_file
    folder = tmp_path / "nan-ckpt"
    shutil.copytree(base_run / "checkpoints" / "step-000004", folder)
    state = load_file(str(folder / "model.safetensors"))
    state["blocks.1.mlp.down_proj.weight"][0, 0] = math.nan
    save_file(state, str(folder / "model.safetensors"))
    return folder


# ---------------------------------------------------------------- 8: a kill between the rename and `latest`
def test_resume_after_a_kill_between_rename_and_latest_takes_the_newest_whole_checkpoint(run_copy, ws):
    ckpts = run_copy / "checkpoints"
    (ckpts / "latest").write_text("step-000002\n")          # killed after step-000004 was renamed into place
    gone, alive = dead_pid(), os.getpid()
    (ckpts / f".step-000006.tmp-{gone}").mkdir()             # killed mid-save, by a process now gone
    (ckpts / f".step-000006.tmp-{gone}" / "model.safetensors").write_bytes(b"half")
    (ckpts / f".step-000008.tmp-{alive}").mkdir()            # a live process's save: not ours to touch
    (ckpts / f".latest.tmp-{gone}").write_text("step-0000")

    proc = minigpt(["train", "--resume", str(run_copy), "--max-steps", "6", "--set", "run.log_every=1"], ws)
    assert proc.returncode == 0, proc.stderr[-3000:]
    hello = next(e for e in events_of(proc) if e["event"] == "hello")
    assert hello["resumed"] and hello["resume_step"] == 4
    logs = " ".join(e["message"] for e in events_of(proc) if e["event"] == "log")
    assert "latest named step-000002" in logs and "step-000004 is the newest whole checkpoint" in logs
    assert f".step-000006.tmp-{gone}" in logs
    assert (ckpts / "latest").read_text().strip() == "step-000006"
    assert not (ckpts / f".step-000006.tmp-{gone}").exists() and not (ckpts / f".latest.tmp-{gone}").exists()
    assert (ckpts / f".step-000008.tmp-{alive}").is_dir()
    steps = [e["step"] for e in events_of(proc) if e["event"] == "step"]
    assert steps and min(steps) == 5 and max(steps) == 6


def test_an_explicit_older_step_folder_still_refuses_to_overwrite_newer_ones(run_copy, ws):
    proc = minigpt(["train", "--resume", str(run_copy / "checkpoints" / "step-000002"), "--max-steps", "6"], ws)
    assert_clear_failure(proc, "step-000004", "overwrite")


# ---------------------------------------------------------------- 10: crashes become messages
def symlink_loop(tmp_path: Path) -> Path:
    a, b = tmp_path / "loop-a", tmp_path / "loop-b"
    a.symlink_to(b)
    b.symlink_to(a)
    return a


def a_file(tmp_path: Path) -> Path:
    f = tmp_path / "plain-file"
    f.write_text("not a folder")
    return f


PATH_CASES = {
    # name: (args built from (tmp_path, base_run), needles in the message)
    "--out under a file": (lambda t, r: ["train", "--out", str(a_file(t) / "run"), *STEPS, *FAST],
                           ["plain-file is a file, not a folder"]),
    "--out through a symlink loop": (lambda t, r: ["train", "--out", str(symlink_loop(t) / "run"), *STEPS, *FAST],
                                     ["loop-a", "symbolic link loop"]),
    "--resume a symlink loop": (lambda t, r: ["train", "--resume", str(symlink_loop(t))],
                                ["loop-a", "symbolic link loop"]),
    "--init a symlink loop": (lambda t, r: ["train", "--stage", "sft", "--init", str(symlink_loop(t)), "--out",
                                            str(t / "r"), *STEPS, *FAST], ["loop-a", "symbolic link loop"]),
    "export a symlink loop": (lambda t, r: ["export", str(symlink_loop(t)), "--out", str(t / "hf")],
                              ["loop-a", "symbolic link loop"]),
    "export --out through a loop": (lambda t, r: ["export", str(r), "--out", str(symlink_loop(t) / "hf")],
                                    ["loop-a", "symbolic link loop"]),
    "--data a symlink loop": (lambda t, r: ["train", "--data", str(symlink_loop(t)), "--out", str(t / "r"), *STEPS,
                                            *FAST], ["loop-a", "symbolic link loop"]),
    "--tokenizer a symlink loop": (lambda t, r: ["train", "--tokenizer", str(symlink_loop(t)), "--out", str(t / "r"),
                                                 *STEPS, *FAST], ["loop-a", "symbolic link loop"]),
    "data check a symlink loop": (lambda t, r: ["data", "check", str(symlink_loop(t))],
                                  ["loop-a", "symbolic link loop"]),
    "--seed past 64 bits": (lambda t, r: ["train", "--seed", str(10**20), "--out", str(t / "r"), *STEPS, *FAST],
                            ["run.seed", str(10**20)]),
    "negative seed": (lambda t, r: ["train", "--set", "run.seed=-1", "--out", str(t / "r"), *STEPS, *FAST],
                      ["run.seed"]),
    "export truncated weights": (lambda t, r: ["export", str(truncated(t, r)), "--out", str(t / "hf")],
                                 ["model.safetensors", "cannot read weights"]),
}


def truncated(tmp_path: Path, base_run: Path) -> Path:
    folder = tmp_path / "damaged"
    shutil.copytree(base_run / "checkpoints" / "step-000004", folder)
    w = folder / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 3])
    return folder


@pytest.mark.parametrize("case", list(PATH_CASES))
def test_bad_paths_and_values_get_one_line_not_a_traceback(case, tmp_path, base_run, ws):
    build, needles = PATH_CASES[case]
    proc = minigpt(build(tmp_path, base_run), ws)
    assert_clear_failure(proc, *needles)


def _fsize_limit(limit: int):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_file_size_limit_during_a_checkpoint_is_a_message_and_leaves_no_half_checkpoint(base_run, ws, tmp_path):
    out = tmp_path / "run"
    proc = minigpt(["train", "--stage", "pretrain", "--out", str(out), *STEPS, *FAST], ws,
                   preexec_fn=_fsize_limit(200_000))
    assert_clear_failure(proc, "checkpoint step-000002", "free", str(out / "checkpoints"))
    error = next(e for e in events_of(proc) if e["event"] == "error")
    assert error["kind"] == "disk"
    assert list((out / "checkpoints").iterdir()) == []  # neither a step folder nor a temporary one


def tmpfs_argv(mount: Path, size: str, argv: list[str]) -> list[str] | None:
    """argv run inside a private mount namespace where `mount` is a tmpfs of `size`, or None if not possible."""
    if not shutil.which("unshare"):
        return None
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size={size} none {mount}"],
                           capture_output=True)
    if probe.returncode != 0:
        return None
    return ["unshare", "-rm", "sh", "-c", f'mount -t tmpfs -o size={size} none "$0" && exec "$@"', str(mount), *argv]


def test_a_full_disk_during_a_checkpoint_names_the_checkpoint_and_the_free_space(base_run, ws, tmp_path):
    disk = tmp_path / "small-disk"
    disk.mkdir()
    argv = tmpfs_argv(disk, "400k", [sys.executable, "-m", "engine.cli", "train", "--stage", "pretrain", "--out",
                                     str(disk / "run"), "--events", "jsonl", *STEPS, *FAST])
    if argv is None:
        pytest.skip("cannot mount a private tmpfs here (unshare -rm not permitted)")
    env = {**os.environ, "MINIGPT_HOME": str(ws)}
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert_clear_failure(proc, "the disk is full", "while writing checkpoint step-000002", "free", str(disk))


def test_a_full_disk_while_pretokenizing_names_what_was_written(base_run, ws, tmp_path):
    disk = tmp_path / "small-home"
    disk.mkdir()
    tok = next((ws / "tokenizers").glob("auto-*"))
    data = tmp_path / "big.jsonl"
    data.write_text("".join(json.dumps({"text": f"record {i}: the cat sat on mat {i * 7}; the dog ran {i} laps."})
                            + "\n" for i in range(6000)))
    argv = tmpfs_argv(disk, "96k", [sys.executable, "-m", "engine.cli", "train", "--stage", "pretrain", "--data",
                                    str(data), "--tokenizer", str(tok), "--out", str(tmp_path / "run"), *STEPS, *FAST])
    if argv is None:
        pytest.skip("cannot mount a private tmpfs here (unshare -rm not permitted)")
    env = {**os.environ, "MINIGPT_HOME": str(disk)}
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert_clear_failure(proc, "the disk is full", "pretokenized data", "free")


# ---------------------------------------------------------------- 11: silently wrong
def test_an_empty_config_file_is_refused_naming_what_is_missing(ws, tmp_path):
    cfg = tmp_path / "empty.yaml"
    cfg.write_text("# nothing here yet\n")
    proc = minigpt(["train", str(cfg), "--out", str(tmp_path / "r")], ws)
    assert_clear_failure(proc, str(cfg), "empty", "stage.name", "model.preset")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("max_steps", [["--max-steps", "2"], []], ids=["below", "equal"])
def test_resuming_a_run_already_past_max_steps_says_nothing_was_trained(run_copy, ws, max_steps):
    before = (run_copy / "events.jsonl").read_bytes()
    proc = minigpt(["train", "--resume", str(run_copy), *max_steps], ws)
    assert_clear_failure(proc, "already at step 4", "nothing was trained", "--max-steps above 4")
    assert (run_copy / "events.jsonl").read_bytes() == before  # a fine run gets no failure appended
    assert sorted(p.name for p in (run_copy / "checkpoints").glob("step-*")) == ["step-000002", "step-000004"]


NAN_CASES = {
    "generate": lambda c, t: ["generate", str(c), "--prompt", "hi", "--max-new-tokens", "4"],
    "export": lambda c, t: ["export", str(c), "--out", str(t / "hf")],
    "train --init": lambda c, t: ["train", "--stage", "pretrain", "--init", str(c), "--out", str(t / "r"), *STEPS,
                                  *FAST],
}


@pytest.mark.parametrize("case", list(NAN_CASES))
def test_non_finite_weights_are_refused_at_load_naming_the_tensor(case, base_run, ws, tmp_path):
    folder = nan_checkpoint(base_run, tmp_path)
    proc = minigpt(NAN_CASES[case](folder, tmp_path), ws)
    assert_clear_failure(proc, str(folder / "model.safetensors"), "blocks.1.mlp.down_proj.weight", "non-finite")
    assert not (tmp_path / "hf").exists()


def test_a_run_killed_before_its_first_checkpoint_can_be_started_again_in_its_folder(base_run, ws, tmp_path):
    out = tmp_path / "run"
    args = ["train", "--stage", "pretrain", "--out", str(out), "--max-steps", "100000", "--checkpoint-every", "0",
            "--eval-every", "0", "--set", "run.log_every=1", *FAST]
    env = {**os.environ, "MINIGPT_HOME": str(ws)}
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", *args, "--events", "jsonl"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if json.loads(line)["event"] == "step":
                break
        busy = minigpt(args, ws)  # the folder of a live run is never taken
        assert_clear_failure(busy, str(out), "in use by another engine")  # its run.lock is held
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert not list(out.glob("checkpoints/step-*"))

    resumed = minigpt(["train", "--resume", str(out)], ws)
    assert_clear_failure(resumed, "no checkpoint yet", f"--out {out}")
    again = minigpt(["train", "--stage", "pretrain", "--out", str(out), "--max-steps", "2", "--eval-every", "0", *FAST],
                    ws, events=False)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(list(out.glob("events-killed-*.jsonl"))) == 1 and len(list(out.glob("run-killed-*.yaml"))) == 1
    assert (out / "checkpoints" / "latest").read_text().strip() == "step-000002"


# ---------------------------------------------------------------- 12: --resume with the run's own flags
def test_the_same_command_with_resume_added_continues_the_run(run_copy, ws):
    proc = minigpt(["train", "--resume", str(run_copy), "--stage", "pretrain", "--out", str(run_copy),
                    "--checkpoint-every", "2", "--eval-every", "0", *FAST, "--max-steps", "6"], ws)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (run_copy / "checkpoints" / "latest").read_text().strip() == "step-000006"


def test_a_config_file_with_the_runs_values_may_be_given_with_resume(ws, tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("stage: {name: pretrain}\nmodel: {preset: tiny, d_model: 64, n_layer: 2, vocab_size: 0}\n"
                   "tokenizer: {vocab_size: 512}\ndata: {seq_len: 64}\n"
                   "optim: {lr: 3.0e-3}\nrun: {max_steps: 2, batch_size: 4, eval_every: 0, task_eval_items: 0, "
                   "sample_prompts: [], eval_batches: 2}\nhardware: {threads: 1}\n")
    out = tmp_path / "run"
    first = minigpt(["train", str(cfg), "--out", str(out)], ws, events=False)
    assert first.returncode == 0, first.stderr[-3000:]
    proc = minigpt(["train", str(cfg), "--resume", str(out), "--max-steps", "3", "--set", "optim.lr=3e-3"], ws)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "checkpoints" / "latest").read_text().strip() == "step-000003"


RESUME_CHANGES = {
    "stage": (["--stage", "sft"], ["stage.name: the run has 'pretrain', this command gives 'sft'"]),
    "model and seed": (["--set", "model.d_model=32", "--seed", "7"],
                       ["model.d_model: the run has 64, this command gives 32", "run.seed: the run has 0"]),
    "data": (["--data", "builtin", "other.jsonl"], ["data.train: the run has ['builtin']"]),
}


@pytest.mark.parametrize("case", list(RESUME_CHANGES))
def test_resume_refuses_only_the_values_that_differ_naming_each(case, run_copy, ws):
    flags, needles = RESUME_CHANGES[case]
    before = (run_copy / "events.jsonl").read_bytes()
    proc = minigpt(["train", "--resume", str(run_copy), "--max-steps", "6", *FAST, *flags], ws)
    assert_clear_failure(proc, "--resume continues a run", *needles)
    assert "model.n_layer" not in proc.stderr and "max_steps" not in proc.stderr  # equal or resumable: not named
    assert (run_copy / "events.jsonl").read_bytes() == before
