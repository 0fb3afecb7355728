"""Device detection with an Apple GPU faked in-process (there is none here): MPS is picked, bf16 where macOS has
it, memory telemetry from torch.mps, doctor's report of the device and of what auto picks; the engine sets
PYTORCH_ENABLE_MPS_FALLBACK before torch loads; hardware.compile's auto and its eager fallback."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
import torch

from engine.config import load_config
from engine.device_auto import auto_picks, compile_enabled
from engine.events import EventSink, NullSink
from engine.hardware import doctor_report, init_runtime, memory_stats, pick_device, pick_precision
from engine.train.compile_guard import compile_model
from engine.train.registry import make_stage
from engine.train.setup import build_parts

GIB = 2**30


@pytest.fixture
def fake_mac(monkeypatch):
    """An Apple GPU with 16 GiB recommended, 3 GiB held by the driver, 2 GiB by tensors; macOS 14 unless told."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_macos_or_newer", lambda major, minor: True)
    monkeypatch.setattr(torch.mps, "recommended_max_memory", lambda: 16 * GIB)
    monkeypatch.setattr(torch.mps, "driver_allocated_memory", lambda: 3 * GIB)
    monkeypatch.setattr(torch.mps, "current_allocated_memory", lambda: 2 * GIB)
    return monkeypatch


def test_mps_is_picked_with_bf16_where_macos_has_it(fake_mac):
    mps = pick_device("auto")
    assert mps.type == "mps"
    assert pick_precision("auto", mps)[0] == "bf16"
    fake_mac.setattr(torch.backends.mps, "is_macos_or_newer", lambda major, minor: False)
    assert pick_precision("auto", mps)[0] == "fp32"
    stats = memory_stats(mps)
    assert (stats["mem_kind"], stats["mem_allocated"], stats["mem_reserved"]) == ("mps", 2 * GIB, 3 * GIB)


def test_doctor_reports_the_apple_gpu_and_what_auto_picks(fake_mac):
    report = json.loads(json.dumps(doctor_report()))
    assert report["mps"] == {"available": True, "memory": 16 * GIB, "bf16": True}
    assert report["default_device"] == "mps" and "mps" in report["options"]["devices"]
    auto = report["auto"]
    assert (auto["device"], auto["memory"], auto["bf16"], auto["precision"], auto["compile"]) == \
        ("mps", 16 * GIB, True, "bf16", "off")
    assert auto["batch_size"]["budget"] == int(0.9 * 16 * GIB) and auto["batch_size"]["ceiling"] == 256
    assert report["options"]["auto_batch_size"] is True
    assert report["options"]["compile_modes"] == ["auto", "on", "off"]
    assert auto_picks(0.5)["batch_size"]["budget"] == 8 * GIB


def test_doctor_on_this_cpu_says_what_auto_picks():
    auto = doctor_report()["auto"]
    assert auto["device"] in ("cpu", "cuda:0", "mps") and auto["memory"] > 0
    if auto["device"] == "cpu":
        assert auto["compile"] == "off" and auto["precision"] in ("fp32", "bf16")


def test_compile_auto_is_on_for_cuda_only():
    assert compile_enabled("auto", torch.device("cuda", 0))
    assert not compile_enabled("auto", torch.device("cpu")) and not compile_enabled("auto", torch.device("mps"))
    assert compile_enabled("on", torch.device("cpu")) and not compile_enabled("off", torch.device("cuda", 0))


def test_engine_sets_the_mps_fallback_before_torch_loads():
    code = ("import os, sys; sys.platform = 'darwin'; os.environ.pop('PYTORCH_ENABLE_MPS_FALLBACK', None); "
            "import engine; print(os.environ.get('PYTORCH_ENABLE_MPS_FALLBACK'), 'torch' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["1", "False"]


def test_a_compiler_that_fails_leaves_the_run_eager_with_a_warning(tmp_path, workspace, tok_dir, jsonl):
    data = jsonl(tmp_path / "t.jsonl", [{"text": f"Line {i} of a short text to train on."} for i in range(60)])
    cfg = load_config(overrides=["model.d_model=32", "model.n_layer=1", "model.n_head=4", "model.n_kv_head=2",
                                 "model.max_seq_len=32", "data.seq_len=16", "hardware.device=cpu",
                                 "hardware.precision=fp32", "hardware.compile=on", f"data.train=[{data}]",
                                 f"tokenizer.path={tok_dir}", "run.task_eval_items=0"])
    rt = init_runtime(cfg.hardware, cfg.run.seed)
    parts = build_parts(cfg, make_stage("pretrain"), workspace, NullSink(), rt, None)
    x = torch.randint(0, 100, (2, 16))
    with torch.no_grad():
        eager = parts.model(x)[0]

    def broken_backend(graph, example_inputs):
        raise RuntimeError("no C++ compiler on this machine")

    buf = io.StringIO()
    assert compile_model(parts, rt, EventSink(stream=buf), backend=broken_backend) is False
    logs = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert [e["level"] for e in logs] == ["info", "warning"]   # "compiling ...", then why it did not
    assert "torch.compile failed" in logs[1]["message"] and "continues without it" in logs[1]["message"]
    assert "no C++ compiler" in logs[1]["message"]
    with torch.no_grad():
        assert torch.equal(parts.model(x)[0], eager)      # runs, uncompiled, as before
    assert all(p.grad is None for p in parts.model.parameters())
