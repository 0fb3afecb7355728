"""Bad input through the real CLI: each case exits non-zero with one clear message (file, line or key, and a
hint), emits an `error` event, shows no traceback, and leaves existing files untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TOY = ["--set", "model.d_model=32", "--set", "model.n_layer=1", "--set", "tokenizer.vocab_size=300",
       "--set", "run.batch_size=2", "--set", "data.seq_len=16", "--set", "run.task_eval_items=0",
       "--set", "run.sample_prompts=[]", "--max-steps", "2", "--eval-every", "0"]


def minigpt(args: list[str], ws: Path, events: bool = True) -> subprocess.CompletedProcess:
    extra = ["--events", "jsonl"] if events and args[0] == "train" else []
    env = {**os.environ, "MINIGPT_HOME": str(ws)}
    return subprocess.run([sys.executable, "-m", "engine.cli", *args, *extra], env=env, capture_output=True,
                          text=True, timeout=180)


def error_event(proc: subprocess.CompletedProcess) -> dict:
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    errors = [e for e in events if e["event"] == "error"]
    assert errors, f"no error event in {proc.stdout!r}"
    assert events[-1]["event"] == "done" and events[-1]["status"] == "failed"
    return errors[0]


def assert_clear_failure(proc, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "error:" in proc.stderr and "hint:" in proc.stderr
    for n in needles:
        assert n in proc.stderr, f"{n!r} not in {proc.stderr!r}"


def write(path: Path, lines: list[str] | bytes) -> Path:
    path.write_bytes(lines if isinstance(lines, bytes) else ("\n".join(lines) + "\n").encode())
    return path


TEXT = [json.dumps({"text": f"The cat number {i} sat on mat {i * 7}. 猫坐在垫子上。"}) for i in range(40)]


@pytest.mark.parametrize("case", ["malformed", "schema", "empty", "binary", "missing"])
def test_bad_data_files_stop_before_training(tmp_path, case):
    bad = tmp_path / "data.jsonl"
    if case == "malformed":
        write(bad, TEXT[:3] + ['{"text": "unterminated'] + TEXT[3:6])
        needles = [f"{bad}:4", "malformed JSON"]
    elif case == "schema":
        write(bad, [json.dumps({"body": "x"})] * 5)
        needles = [str(bad), "body"]
    elif case == "empty":
        write(bad, b"\n\n")
        needles = [str(bad), "empty"]
    elif case == "binary":
        write(bad, ("\n".join(TEXT[:5]) + "\n").encode() + b'{"text": "caf\xe9"}\n')
        needles = [f"{bad}:6", "UTF-8"]
    else:
        bad = tmp_path / "nowhere.jsonl"
        needles = [str(bad), "not found"]
    out = tmp_path / "run"
    proc = minigpt(["train", "--stage", "pretrain", "--data", str(bad), "--out", str(out), *TOY], tmp_path / "ws")
    assert_clear_failure(proc, *needles)
    ev = error_event(proc)
    assert ev["message"] and ev["hint"] and ev["traceback"] is None
    assert not (out / "checkpoints").exists()
    if case == "missing":  # named before the run is set up: no hello (which follows torch and the device)
        assert "hello" not in [json.loads(line)["event"] for line in proc.stdout.splitlines() if line.strip()]


def test_data_check_reports_bad_lines_and_fails(tmp_path):
    good = write(tmp_path / "good.jsonl", TEXT[:4])
    bad = write(tmp_path / "bad.jsonl", TEXT[:2] + ["not json"])
    proc = minigpt(["data", "check", str(good), str(bad)], tmp_path)
    assert proc.returncode != 0
    assert f"{bad}:3" in proc.stdout + proc.stderr
    ok = minigpt(["data", "check", str(good)], tmp_path)
    assert ok.returncode == 0 and "pretrain" in ok.stdout


@pytest.mark.parametrize("override,key", [
    ("optim.lrr=1", "optim.lrr"),
    ("model.n_head=3", "model.n_head"),
    ("model.n_kv_head=3", "model.n_kv_head"),
    ("optim.lr=-1", "optim.lr"),
    ("data.seq_len=100000", "data.seq_len"),
    ("bogus.x=1", "bogus"),
])
def test_bad_config_is_named_by_key_path(tmp_path, override, key):
    proc = minigpt(["train", "--stage", "pretrain", "--out", str(tmp_path / "r"), *TOY, "--set", override], tmp_path)
    assert_clear_failure(proc, key)
    assert error_event(proc)["kind"] == "config"


def test_bad_yaml_names_file_and_line(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("model:\n  d_model: 64\n optim: [\n")
    proc = minigpt(["train", str(cfg)], tmp_path)
    assert_clear_failure(proc, f"{cfg}:")


def test_init_without_checkpoint_is_refused(tmp_path):
    empty = tmp_path / "not-a-run"
    empty.mkdir()
    proc = minigpt(["train", "--stage", "sft", "--init", str(empty), "--out", str(tmp_path / "r"), *TOY], tmp_path)
    assert_clear_failure(proc, str(empty), "no checkpoint")


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> tuple[Path, Path]:
    ws = tmp_path_factory.mktemp("ws")
    data = write(ws / "text.jsonl", TEXT)
    run = ws / "run"
    proc = minigpt(["train", "--stage", "pretrain", "--data", str(data), "--out", str(run), *TOY], ws, events=False)
    assert proc.returncode == 0, proc.stderr
    return ws, run


def test_existing_out_is_never_overwritten(trained_run, tmp_path):
    ws, run = trained_run
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    proc = minigpt(["train", "--stage", "pretrain", "--data", str(ws / "text.jsonl"), "--out", str(run), *TOY], ws)
    assert_clear_failure(proc, str(run), "already exists")
    after = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    assert before == after


@pytest.mark.parametrize("damage", ["truncated", "mismatched"])
def test_damaged_weights_give_a_clear_error(trained_run, tmp_path, damage):
    import shutil

    from safetensors.torch import load_file, save_file
    ws, run = trained_run
    step = next((run / "checkpoints").glob("step-*"))
    copy = tmp_path / "ckpt"
    shutil.copytree(step, copy)
    weights = copy / "model.safetensors"
    if damage == "truncated":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    else:
        state = load_file(str(weights))
        state["embed.weight"] = state["embed.weight"][:, :16].contiguous()
        save_file(state, str(weights))
    proc = minigpt(["train", "--stage", "pretrain", "--init", str(copy), "--data", str(ws / "text.jsonl"),
                    "--out", str(tmp_path / "r"), *TOY], ws)
    assert_clear_failure(proc, str(weights))
    assert error_event(proc)["kind"] == "checkpoint"


def test_wrong_record_kind_for_stage(trained_run, tmp_path):
    ws, _ = trained_run
    proc = minigpt(["train", "--stage", "sft", "--data", str(ws / "text.jsonl"), "--out", str(tmp_path / "r"), *TOY],
                   ws)
    assert_clear_failure(proc, "pretrain records", "sft")


def test_out_of_a_run_that_failed_before_training_can_be_used_again(tmp_path):
    data = write(tmp_path / "text.jsonl", TEXT)
    out = tmp_path / "run"
    failed = minigpt(["train", "--stage", "sft", "--data", str(data), "--out", str(out), *TOY], tmp_path / "ws")
    assert failed.returncode == 2 and (out / "events.jsonl").is_file()
    ok = minigpt(["train", "--stage", "pretrain", "--data", str(data), "--out", str(out), *TOY], tmp_path / "ws",
                 events=False)
    assert ok.returncode == 0, ok.stderr
    kept = list(out.glob("events-failed-*.jsonl"))
    assert len(kept) == 1 and "sft stage" in kept[0].read_text()
    assert (out / "checkpoints" / "latest").is_file()
