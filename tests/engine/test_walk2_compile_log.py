"""What a run says while hardware.compile compiles (found walking a small-preset CPU run): a line that the compile is
under way before the silent minutes, and a compiler killed by Ctrl-C (g++ gets the terminal's SIGINT too) reported
as interrupted, not as a failed toolchain. Both with a backend built in-process, no C++ compile."""

from __future__ import annotations

import io
import json
import signal
import subprocess

import torch

from engine.config import load_config
from engine.events import EventSink, NullSink
from engine.hardware import init_runtime
from engine.train.compile_guard import compile_model
from engine.train.registry import make_stage
from engine.train.setup import build_parts


def _parts(tmp_path, workspace, tok_dir, jsonl):
    data = jsonl(tmp_path / "t.jsonl", [{"text": f"Line {i} of a short text to train on."} for i in range(60)])
    cfg = load_config(overrides=["model.d_model=32", "model.n_layer=1", "model.n_head=4", "model.n_kv_head=2",
                                 "model.max_seq_len=32", "data.seq_len=16", "hardware.device=cpu",
                                 "hardware.precision=fp32", "hardware.compile=on", f"data.train=[{data}]",
                                 f"tokenizer.path={tok_dir}", "run.task_eval_items=0"])
    rt = init_runtime(cfg.hardware, cfg.run.seed)
    return build_parts(cfg, make_stage("pretrain"), workspace, NullSink(), rt, None), rt


def _logs(buf: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def test_the_run_says_it_is_compiling_before_the_first_step(tmp_path, workspace, tok_dir, jsonl):
    parts, rt = _parts(tmp_path, workspace, tok_dir, jsonl)
    seen_before_compiling: list[list[dict]] = []
    buf = io.StringIO()

    def backend(graph, example_inputs):   # runs when the compile starts: what had the user been told by then?
        seen_before_compiling.append(_logs(buf))
        return graph.forward

    assert compile_model(parts, rt, EventSink(stream=buf), backend=backend) is True
    told = seen_before_compiling[0]
    assert any("compiling the model's blocks before the first step" in e["message"] for e in told), told
    assert "stop or Ctrl-C ends the run" in told[-1]["message"]
    torch._dynamo.reset()


def test_a_compiler_killed_by_ctrl_c_reads_as_interrupted(tmp_path, workspace, tok_dir, jsonl):
    parts, rt = _parts(tmp_path, workspace, tok_dir, jsonl)

    def killed_gxx(graph, example_inputs):
        raise subprocess.CalledProcessError(-signal.SIGINT, ["g++", "kernel.cpp"])

    buf = io.StringIO()
    assert compile_model(parts, rt, EventSink(stream=buf), backend=killed_gxx) is False
    warning = [e for e in _logs(buf) if e["level"] == "warning"]
    assert len(warning) == 1
    assert "torch.compile was interrupted (SIGINT reached the C++ compiler)" in warning[0]["message"]
    assert "failed" not in warning[0]["message"] and "continues without it" in warning[0]["message"]
