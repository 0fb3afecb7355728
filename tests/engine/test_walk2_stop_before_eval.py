"""A stop sent while the run was still setting up (a CPU compile of the small preset takes minutes) ends the run
before the step-0 eval, not after it: walking such a run, Ctrl-C during the compile still cost a whole eval and its
samples (82 s at load 10) before the engine saved and stopped."""

from __future__ import annotations

import io
import json
from pathlib import Path

from engine.commands import CommandQueue
from engine.config import load_config
from engine.events import EventSink, NullSink
from engine.hardware import init_runtime
from engine.train.loop import Trainer
from engine.train.registry import make_stage
from engine.train.setup import build_parts

TOY = ["model.d_model=32", "model.n_layer=1", "model.n_head=4", "model.n_kv_head=2", "model.max_seq_len=64",
       "run.task_eval_items=0", "hardware.device=cpu", "hardware.precision=fp32", "hardware.threads=1",
       "data.seq_len=32", "run.batch_size=2", "run.eval_every=3", "run.checkpoint_every=0", "run.eval_batches=1",
       "optim.warmup_steps=0", "run.max_steps=6"]


def _trainer(tmp_path: Path, workspace: Path, tok_dir: Path, buf: io.StringIO, commands: CommandQueue) -> Trainer:
    text = tmp_path / "text.txt"
    text.write_text("\n".join(f"Line {i}: the quick brown fox jumps over {i * 7 % 13} lazy dogs." for i in range(200)),
                    encoding="utf-8")
    cfg = load_config(overrides=[*TOY, f"data.train=[{text}]", f"tokenizer.path={tok_dir}"])
    rt = init_runtime(cfg.hardware, cfg.run.seed)
    parts = build_parts(cfg, make_stage("pretrain"), workspace, NullSink(), rt, None)
    (tmp_path / "run").mkdir()
    return Trainer(parts, rt, tmp_path / "run", EventSink(stream=buf), commands)


def test_a_stop_queued_during_set_up_skips_the_step_0_eval(tmp_path, workspace, tok_dir):
    commands, buf = CommandQueue(), io.StringIO()
    trainer = _trainer(tmp_path, workspace, tok_dir, buf, commands)
    commands.put("stop")                      # what Ctrl-C during the compile leaves in the queue
    assert trainer.run() == "stopped"
    events = [json.loads(line) for line in buf.getvalue().splitlines()]
    kinds = [e["event"] for e in events]
    assert "eval" not in kinds and "sample" not in kinds and "step" not in kinds, kinds
    saved = [e for e in events if e["event"] == "checkpoint"]
    assert [(e["step"], e["reason"]) for e in saved] == [(0, "stop")]   # saved, as a stop always is


def test_without_a_stop_the_step_0_eval_still_runs(tmp_path, workspace, tok_dir):
    buf = io.StringIO()
    assert _trainer(tmp_path, workspace, tok_dir, buf, CommandQueue()).run() == "completed"
    evals = [json.loads(line)["step"] for line in buf.getvalue().splitlines() if '"event":"eval"' in line]
    assert evals[0] == 0 and evals[-1] == 6
