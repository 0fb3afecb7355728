"""hardware.compile: auto on a CPU and the workspace's record of earlier compiles (engine/compile_record.py): a shape
compiled before, whose graphs are still in the cache, compiles for shorter runs; anything else is judged cold, as
before. The compile itself runs on a backend built in-process (no C++ compile)."""

from __future__ import annotations

import io
import json
import math

import pytest
import torch

from engine import compile_record
from engine.config import load_config
from engine.device_auto import compile_enabled, compile_reason
from engine.estimate import CPU_COMPILE_MIN_FLOPS, CPU_COMPILE_WARM_MIN_FLOPS, planned_flops
from engine.events import EventSink, NullSink
from engine.hardware import init_runtime
from engine.train.compile_guard import compile_model
from engine.train.registry import make_stage
from engine.train.setup import build_parts

TOY = ["model.d_model=32", "model.n_layer=1", "model.n_head=4", "model.n_kv_head=2", "model.max_seq_len=32",
       "data.seq_len=16", "run.batch_size=6", "hardware.device=cpu", "hardware.precision=fp32",
       "run.task_eval_items=0"]


@pytest.fixture(autouse=True)
def _own_inductor_cache(monkeypatch):
    # The workspace's folder, not a user's setting; set first so that monkeypatch also undoes what compile_model
    # writes there (a delenv of an unset variable records nothing to restore).
    monkeypatch.setenv(compile_record.CACHE_ENV, "unset-by-the-fixture")
    monkeypatch.delenv(compile_record.CACHE_ENV)


def _graphs_in_cache(workspace) -> None:
    """What a real compile leaves in inductor's cache folder (an FX graph entry)."""
    entry = compile_record.cache_dir(workspace) / "fxgraph" / "ab" / "graph"
    entry.parent.mkdir(parents=True)
    entry.write_text("compiled")


def test_the_key_names_the_shape_batch_and_precision():
    base = load_config(overrides=["model.preset=tiny"])
    key = compile_record.compile_key(base, "bf16")
    assert key == compile_record.compile_key(load_config(overrides=["model.preset=tiny"]), "bf16")
    assert key != compile_record.compile_key(base, "fp32")
    assert key != compile_record.compile_key(load_config(overrides=["model.preset=tiny", "run.batch_size=8"]), "bf16")
    assert key != compile_record.compile_key(load_config(overrides=["model.preset=small"]), "bf16")


def test_a_record_counts_only_while_the_cache_holds_graphs(tmp_path):
    key = compile_record.compile_key(load_config(overrides=["model.preset=tiny"]), "bf16")
    assert compile_record.warm_record(tmp_path, key) is None
    compile_record.remember(tmp_path, key, 80.0, "tiny")
    assert compile_record.warm_record(tmp_path, key) is None           # cache emptied (or never written): cold
    _graphs_in_cache(tmp_path)
    assert compile_record.warm_record(tmp_path, key)["first_seconds"] == 80.0
    compile_record.remember(tmp_path, key, 7.0, "tiny")
    record = compile_record.warm_record(tmp_path, key)
    assert (record["first_seconds"], record["last_seconds"], record["compiles"]) == (80.0, 7.0, 2)
    (tmp_path / compile_record.FOLDER / compile_record.RECORDS).write_text("{not json")
    assert compile_record.warm_record(tmp_path, key) is None           # a damaged record is no record


def _remember_many(workspace, prefix: str) -> None:
    for i in range(25):
        compile_record.remember(workspace, f"{prefix}{i}", 1.0, "toy")


def test_runs_recording_at_the_same_time_lose_no_record(tmp_path):
    """Several engines of one workspace write records.json at once: each read-change-write holds the lock."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    writers = [ctx.Process(target=_remember_many, args=(tmp_path, f"run{k}-")) for k in range(4)]
    for w in writers:
        w.start()
    for w in writers:
        w.join(timeout=60)
        assert w.exitcode == 0
    records = json.loads((tmp_path / compile_record.FOLDER / compile_record.RECORDS).read_text())
    assert len(records) == 100


def test_auto_compiles_a_shorter_run_whose_shape_compiled_here_before(tmp_path, workspace, tok_dir, jsonl):
    data = jsonl(tmp_path / "t.jsonl", [{"text": f"Line {i} of a short text to train on."} for i in range(60)])
    toy = [*TOY, "hardware.compile=auto", f"data.train=[{data}]", f"tokenizer.path={tok_dir}"]
    per_step = planned_flops(load_config(overrides=[*toy, "run.max_steps=1"]), vocab_size=512)  # the test tokenizer's
    steps = math.ceil(3 * CPU_COMPILE_WARM_MIN_FLOPS / per_step)        # between the warm and the cold threshold
    cfg = load_config(overrides=[*toy, f"run.max_steps={steps}"])
    rt = init_runtime(cfg.hardware, cfg.run.seed)
    parts = build_parts(cfg, make_stage("pretrain"), workspace, NullSink(), rt, None)
    assert CPU_COMPILE_WARM_MIN_FLOPS < planned_flops(parts.cfg, parts.model.cfg.vocab_size) < CPU_COMPILE_MIN_FLOPS

    def backend(graph, example_inputs):
        return graph.forward

    buf = io.StringIO()
    assert compile_model(parts, rt, EventSink(stream=buf), backend=backend) is False      # nothing recorded: eager
    assert "eager: this run plans" in buf.getvalue() and "compiled here before" not in buf.getvalue()

    key = compile_record.compile_key(parts.cfg, rt.precision, parts.model.cfg.vocab_size)
    compile_record.remember(workspace, key, 60.0, "toy")
    _graphs_in_cache(workspace)
    buf = io.StringIO()
    assert compile_model(parts, rt, EventSink(stream=buf), backend=backend) is True
    logs = [json.loads(line)["message"] for line in buf.getvalue().splitlines()]
    assert any(m.startswith("torch.compile (auto) compiles: this run plans") and "its shape compiled here before"
               in m for m in logs), logs
    assert any("from the cache of an earlier compile" in m for m in logs), logs
    # a backend that is not inductor leaves no graphs on disk, so it writes no record of its own
    assert compile_record.warm_record(workspace, key)["compiles"] == 1
    torch._dynamo.reset()


def test_the_tiny_presets_default_run_compiles_only_when_warm():
    cfg = load_config(overrides=["model.preset=tiny"])
    flops = planned_flops(cfg)
    cpu = torch.device("cpu")
    assert not compile_enabled("auto", cpu, flops) and compile_enabled("auto", cpu, flops, warm=True)
    assert not compile_enabled("auto", cpu, CPU_COMPILE_WARM_MIN_FLOPS * 0.99, warm=True)
    assert "its shape compiled here before" in compile_reason(cpu, flops, warm=True)
    assert "one run with hardware.compile=on pays the compile" in compile_reason(cpu, flops)   # how to get there
    assert "compile=on" not in compile_reason(cpu, CPU_COMPILE_WARM_MIN_FLOPS / 2)           # too short either way


def test_auto_is_settled_to_what_it_decided_and_an_explicit_choice_is_kept():
    """run.yaml gets on/off for auto, so a resume never re-decides (a record written since, a longer max_steps)."""
    import dataclasses

    from engine.train.compile_guard import settle_choice

    @dataclasses.dataclass
    class Parts:   # settle_choice only reads and replaces the config
        cfg: object

    def settled(mode: str, compiled: bool) -> str:
        parts = Parts(load_config(overrides=[*TOY, f"hardware.compile={mode}"]))
        return settle_choice(parts, compiled).cfg.hardware.compile

    assert settled("auto", True) == "on" and settled("auto", False) == "off"
    assert settled("on", False) == "on" and settled("off", False) == "off"


def test_a_stage_whose_batches_come_from_rollouts_is_not_compiled_and_says_why(tmp_path, workspace, tok_dir, jsonl):
    """PPO and GRPO have no offline batch for the compile's probe step: skipped with a reason, not 'compile failed'."""
    import dataclasses

    from engine.train.grpo import GRPOStage

    data = jsonl(tmp_path / "t.jsonl", [{"text": f"Line {i} of a short text to train on."} for i in range(60)])
    cfg = load_config(overrides=[*TOY, "hardware.compile=on", f"data.train=[{data}]", f"tokenizer.path={tok_dir}"])
    rt = init_runtime(cfg.hardware, cfg.run.seed)
    parts = build_parts(cfg, make_stage("pretrain"), workspace, NullSink(), rt, None)
    parts = dataclasses.replace(parts, stage=GRPOStage.__new__(GRPOStage))   # only its class is looked at
    buf = io.StringIO()
    assert compile_model(parts, rt, EventSink(stream=buf), backend=lambda g, _: g.forward) is False
    assert "batches come from rollouts" in buf.getvalue() and "failed" not in buf.getvalue()
    assert not hasattr(parts.model.blocks[0], "_compiled_call_impl") or parts.model.blocks[0]._compiled_call_impl \
        is None
