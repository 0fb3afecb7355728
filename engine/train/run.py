"""One training run from a resolved config: the run folder, run.yaml, events, set-up, the loop, resume.

The CLI parses arguments into a Config and calls `run_training`; the studio reaches this only through the
CLI process. Nothing in a run folder that already holds a run is overwritten (resume appends).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch

from engine import __version__
from engine import checkpoint as ckpt
from engine.commands import CommandQueue
from engine.config import Config, build_config, read_yaml
from engine.errors import UserError
from engine.events import EventSink
from engine.hardware import init_runtime, shutdown_runtime
from engine.train.loop import Trainer
from engine.train.registry import make_stage
from engine.train.setup import build_parts
from engine.workspace import claim_out_dir, new_run_dir


def resume_target(path: str) -> tuple[Path, Path]:
    """(run folder, checkpoint folder) from --resume RUN_DIR or CKPT_DIR."""
    step_dir = ckpt.resolve_checkpoint(path)
    run_dir = step_dir.parent.parent
    if not (run_dir / "run.yaml").is_file():
        raise UserError(f"{step_dir}: no run.yaml in {run_dir}, so the run cannot be resumed",
                        "resume needs the run folder the checkpoint came from; use --init to start a new run from "
                        "these weights", kind="checkpoint")
    newer = ckpt.later_steps(step_dir.parent, int(step_dir.name[5:]))
    if newer:
        raise UserError(f"{run_dir} has checkpoints newer than {step_dir.name} ({', '.join(p.name for p in newer)}); "
                        "resuming from it would overwrite them",
                        "resume from the newest checkpoint, or move the newer step folders aside first",
                        kind="checkpoint")
    return run_dir, step_dir


def init_origin(cfg: Config, resumed: bool, sink: EventSink) -> Path | None:
    """stage.init's step folder. On resume the weights come from the resumed step; the original init is only for
    the stage's set-up, so one that has gone since is reported, not fatal (a stage that needs it says so)."""
    if not cfg.stage.init:
        return None
    try:
        return ckpt.resolve_checkpoint(cfg.stage.init)
    except UserError as e:
        if not resumed:
            raise
        sink.log(f"the run's stage.init is no longer readable ({e}); resuming from the saved weights", "warning")
        return None


def resumed_config(run_dir: Path, overrides: dict) -> Config:
    """The config that ran, with only the knobs that may change on resume (e.g. max_steps) replaced."""
    from engine.config import deep_merge
    doc = read_yaml(run_dir / "run.yaml")
    return build_config(deep_merge(doc, overrides), str(run_dir / "run.yaml"))


def run_training(cfg: Config, workspace: Path, sink: EventSink, commands: CommandQueue, out: str | None = None,
                 resume: str | None = None, resume_overrides: dict | None = None) -> str:
    """Run (or resume) a training run; returns the done status. Emits hello/config/.../done."""
    step_dir = None
    if resume:
        run_dir, step_dir = resume_target(resume)
        if out and Path(out).resolve() != run_dir:
            raise UserError(f"--out {out} differs from the resumed run's folder {run_dir}",
                            "a resumed run continues in its own folder; drop --out", kind="output")
        cfg = resumed_config(run_dir, resume_overrides or {})
    else:
        run_dir = claim_out_dir(Path(out)) if out else new_run_dir(workspace, cfg.stage.name, cfg.run.name)
    sink.attach_file(run_dir / "events.jsonl")

    rt = init_runtime(cfg.hardware, cfg.run.seed)
    sink.emit("hello", engine_version=__version__, pid=os.getpid(), device=rt.describe(),
              device_type=rt.device.type, precision=rt.precision, run_dir=str(run_dir), resumed=bool(resume),
              resume_step=int(step_dir.name[5:]) if step_dir is not None else None)
    stage = make_stage(cfg.stage.name)
    origin = init_origin(cfg, resumed=step_dir is not None, sink=sink)
    if origin is not None and not resume:  # run.yaml names the step folder itself, so a resume finds the same one
        cfg = dataclasses.replace(cfg, stage=dataclasses.replace(cfg.stage, init=str(origin)))
    parts = build_parts(cfg, stage, workspace, sink, rt, step_dir or origin, origin=origin, resume_dir=step_dir)
    if not resume:
        tmp = run_dir / "run.yaml.tmp"
        tmp.write_text(parts.cfg.to_yaml(), encoding="utf-8")
        tmp.replace(run_dir / "run.yaml")
    sink.emit("config", config=parts.cfg.to_dict(), params=parts.model.num_params(),
              params_non_embedding=parts.model.num_params(non_embedding=True),
              tokens_per_step=parts.cfg.tokens_per_step)
    trainer = Trainer(parts, rt, run_dir, sink, commands)
    if step_dir is not None:
        trainer.load_trainer_state(ckpt.load_trainer_state(step_dir))
        sink.log(f"resumed from {step_dir} at step {trainer.step}")
    try:
        status = trainer.run()
    except torch.OutOfMemoryError:
        raise UserError(f"out of memory on {rt.describe()} at step {trainer.step + 1}",
                        "lower run.batch_size (raise run.grad_accum to keep tokens per step) or data.seq_len, or "
                        "set hardware.grad_checkpointing=true", kind="memory") from None
    shutdown_runtime(rt)
    summary = {"steps": trainer.step, "tokens_seen": trainer.tokens_seen, "run_dir": str(run_dir),
               "best_val_loss": trainer.best_val if trainer.best_val != float("inf") else None,
               "last_eval": trainer.last_eval[1] if trainer.last_eval else None}
    sink.emit("done", status=status, summary=summary)
    return status
