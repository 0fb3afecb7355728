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
from engine.config import Config, build_config, deep_merge, read_yaml
from engine.diskio import atomic_write_text, resolve_path, writing
from engine.errors import UserError
from engine.events import EventSink
from engine.hardware import init_runtime, shutdown_runtime
from engine.protocol import control_dir
from engine.run_lock import claim_out, hold_run
from engine.train import distributed
from engine.train.autobatch import fit_batch
from engine.train.compile_guard import compile_model, settle_choice
from engine.train.loop import Trainer
from engine.train.registry import make_stage
from engine.train.setup import build_parts
from engine.workspace import new_run_dir


def resume_target(path: str) -> tuple[Path, Path, list[str]]:
    """(run folder, checkpoint folder, notes) from --resume RUN_DIR or CKPT_DIR.

    A run folder resumes from its newest whole checkpoint, even when a kill between the rename of a step folder
    and the update of `latest` left `latest` naming an older one (run_training repairs it once the resume is
    accepted). A step folder named explicitly is used as given. The notes say what was tidied, for the run's log.
    """
    p = resolve_path(path)
    explicit = (p / ckpt.CONFIG).is_file() and (p / ckpt.WEIGHTS).is_file()
    if explicit or not p.is_dir():
        step_dir = ckpt.resolve_checkpoint(p)
        run_dir = step_dir.parent.parent
    else:
        run_dir = p.parent if p.name == "checkpoints" and not (p / "run.yaml").exists() else p
    if not (run_dir / "run.yaml").is_file():
        raise UserError(f"{p}: no run.yaml in {run_dir}, so the run cannot be resumed",
                        "resume needs the run folder the checkpoint came from; use --init to start a new run from "
                        "these weights", kind="checkpoint")
    if explicit and ckpt.step_number(step_dir) is None:
        raise UserError(f"{step_dir}: not a step-NNNNNN folder of {run_dir}", "resume the run folder instead",
                        kind="checkpoint")
    root = run_dir / "checkpoints"
    notes = ckpt.clean_orphans(root)
    if not explicit:
        step_dir = ckpt.newest_complete(root)
        if step_dir is None:
            broken = ckpt.step_folders(root)
            if not broken:
                raise UserError(f"{run_dir} has no checkpoint yet (the run ended before its first save), so there is "
                                "nothing to resume", f"start the run again: --out {run_dir} reuses a run folder "
                                "without checkpoints", kind="checkpoint")
            raise UserError(f"{run_dir}: no whole checkpoint to resume from ({broken[-1].name}: "
                            f"{', '.join(ckpt.missing_parts(broken[-1]))})",
                            "restore the missing files, or start a new run from these weights with --init",
                            kind="checkpoint")
    newer = ckpt.later_steps(root, ckpt.step_number(step_dir))
    if newer:
        detail = ", ".join(p.name + (f" ({'; '.join(gaps)})" if (gaps := ckpt.missing_parts(p)) else "")
                           for p in newer)
        raise UserError(f"{run_dir} has checkpoints newer than {step_dir.name} ({detail}); "
                        "resuming from it would overwrite them",
                        "resume from the newest checkpoint, or move the newer step folders aside first",
                        kind="checkpoint")
    return run_dir, step_dir, notes


def repair_latest(step_dir: Path) -> str | None:
    """Point `latest` at the checkpoint being resumed (the newest, once resume_target has checked); say why."""
    root = step_dir.parent
    latest = ckpt.read_pointer(root, "latest")
    if latest == step_dir.name:
        return None
    ckpt.write_pointer(root, "latest", step_dir.name)
    return (f"checkpoints/latest named {latest or 'nothing'}, but {step_dir.name} is the newest whole checkpoint "
            f"(a save was interrupted before latest moved): resuming from {step_dir.name} and pointing latest at it")


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


def resumed_config(run_dir: Path, requested: dict) -> Config:
    """The config that ran, with the values this command gives. Values equal to the run's are accepted; a
    different value is accepted only for what may change without breaking exactness (run.*, but not run.seed,
    and hardware.*); every other difference is refused by key, with the run's value and the new one."""
    source = str(run_dir / "run.yaml")
    doc = read_yaml(run_dir / "run.yaml")
    ran = build_config(doc, source)
    wanted = build_config(deep_merge(doc, requested), "this command")
    refused = []
    for section, values in requested.items():
        for key in values if isinstance(values, dict) else ():
            old, new = getattr(getattr(ran, section), key), getattr(getattr(wanted, section), key)
            same = old == new or (section, key, new) == ("model", "vocab_size", 0)  # 0 = "the tokenizer's"
            if not same and (section, key) == ("stage", "init") and old and new:
                same = _same_checkpoint(old, new)  # run.yaml names the step folder that `--init RUN` resolved to
            if not same and not (section == "hardware" or (section == "run" and key != "seed")):
                refused.append(f"{section}.{key}: the run has {old!r}, this command gives {new!r}")
    if refused:
        raise UserError("--resume continues a run exactly as it was configured, and this command changes "
                        + "; ".join(refused),
                        "drop those flags (or give the run's values); on resume only run.* (not run.seed) and "
                        "hardware.* may change; start a new run with --init to change the rest", kind="config")
    model_vocab = (requested.get("model") or {}).get("vocab_size")
    return dataclasses.replace(wanted, model=ran.model) if model_vocab == 0 else wanted


def _same_checkpoint(a: str, b: str) -> bool:
    try:
        return ckpt.resolve_checkpoint(a) == ckpt.resolve_checkpoint(b)
    except UserError:
        return False


def run_training(cfg: Config, workspace: Path, sink: EventSink, commands: CommandQueue, out: str | None = None,
                 resume: str | None = None, resume_request: dict | None = None) -> str:
    """Run (or resume) a training run; returns the done status. Emits hello/config/.../done.

    Everything that can refuse a resume does so before the run's events.jsonl is opened, so a refused command
    never appends a failure to a run that is fine."""
    rank, world = distributed.join()  # the process group torchrun prepared; (0, 1) for one process
    step_dir, notes, lock = None, [], None
    if rank > 0:
        pass  # rank 0 claims the run folder and settles the config; the others receive both below
    elif resume:
        run_dir, step_dir, notes = resume_target(resume)
        if out and resolve_path(out) != run_dir:
            raise UserError(f"--out {out} differs from the resumed run's folder {run_dir}",
                            "a resumed run continues in its own folder; drop --out", kind="output")
        cfg = resumed_config(run_dir, resume_request or {})
        at = ckpt.step_number(step_dir)
        if at >= cfg.run.max_steps:
            raise UserError(f"{run_dir} is already at step {at}, and run.max_steps is {cfg.run.max_steps}: "
                            "nothing to train, so nothing was trained", f"pass --max-steps above {at} to train "
                            "further", kind="config")
        lock = hold_run(run_dir)  # refuses a run another engine still trains, before anything is repaired
        notes += [n for n in [repair_latest(step_dir)] if n]
    else:
        lock = claim_out(Path(out)) if out else hold_run(new_run_dir(workspace, cfg.stage.name, cfg.run.name))
        run_dir = lock.run_dir
    # `lock` is held for the run's life (a live run is one whose lock is held); the OS drops it if we die.
    run_dir, step_dir, cfg = distributed.broadcast((run_dir, step_dir, cfg) if rank == 0 else None)
    if rank == 0:
        commands.watch_folder(control_dir(run_dir))
        sink.attach_file(run_dir / "events.jsonl")

    rt = distributed.place(init_runtime(cfg.hardware, cfg.run.seed), rank, world)
    sink.emit("hello", engine_version=__version__, pid=os.getpid(), device=rt.describe(),
              device_type=rt.device.type, precision=rt.precision, run_dir=str(run_dir), resumed=bool(resume),
              resume_step=ckpt.step_number(step_dir) if step_dir is not None else None)
    for note in notes:
        sink.log(note, "warning")
    if world > 1:
        sink.log(distributed.describe(cfg.hardware.parallel, cfg.stage.name, rt))
    stage = make_stage(cfg.stage.name)
    origin = init_origin(cfg, resumed=step_dir is not None, sink=sink)
    if origin is not None and not resume:  # run.yaml names the step folder itself, so a resume finds the same one
        cfg = dataclasses.replace(cfg, stage=dataclasses.replace(cfg.stage, init=str(origin)))
    with writing("the tokenizer and the pretokenized data", workspace), distributed.cache_lock(workspace, world):
        parts = build_parts(cfg, stage, workspace, sink, rt, step_dir or origin, origin=origin, resume_dir=step_dir)
    compiled = compile_model(parts, rt, sink)   # a compiler that fails leaves the run eager, with a warning
    parts = settle_choice(parts, compiled)      # compile: auto becomes on / off before run.yaml is written
    parts = fit_batch(parts, rt, sink)   # run.batch_size: auto becomes a number before run.yaml is written
    if not resume and rank == 0:
        atomic_write_text(run_dir / "run.yaml", parts.cfg.to_yaml())
    sink.emit("config", config=parts.cfg.to_dict(), params=parts.model.num_params(),
              params_non_embedding=parts.model.num_params(non_embedding=True),
              params_active=parts.model.num_active_params(),
              tokens_per_step=parts.cfg.tokens_per_step)
    if (note := warmup_note(parts.cfg)) is not None:
        sink.log(note)
    if parts.model.cfg.moe is not None:
        sink.log(f"mixture of experts: {parts.model.num_params():,} parameters, "
                 f"{parts.model.num_active_params():,} active per token")
    trainer = Trainer(parts, rt, run_dir, sink, commands)
    if step_dir is not None:
        trainer.load_trainer_state(ckpt.load_trainer_state(step_dir), step_dir)
        sink.log(f"resumed from {step_dir} at step {trainer.step}")
    try:
        status = trainer.run()
    except torch.OutOfMemoryError:
        raise UserError(f"out of memory on {rt.describe()} at step {trainer.step + 1}",
                        "lower run.batch_size (raise run.grad_accum to keep tokens per step) or data.seq_len, or "
                        "set hardware.grad_checkpointing=true", kind="memory") from None
    except (torch.distributed.DistError, RuntimeError) as e:  # a peer died or hung: one clear message, no hang
        raise distributed.peer_failure(e, rt) from None
    shutdown_runtime(rt)
    distributed.leave()
    summary = {"steps": trainer.step, "tokens_seen": trainer.tokens_seen, "run_dir": str(run_dir),
               "best_val_loss": trainer.best_val if trainer.best_val != float("inf") else None,
               "last_eval": trainer.last_eval[1] if trainer.last_eval else None}
    sink.emit("done", status=status, summary=summary)
    if lock is not None:
        lock.release()
    return status


def warmup_note(cfg) -> str | None:
    """A run whose warm-up takes all its steps but the last climbs the whole way and ends at the peak lr, never
    decaying (engine/estimate.py lr_at caps the warm-up at max_steps - 1): say so, with the key to change."""
    warmup, steps, schedule = cfg.optim.warmup_steps, cfg.run.max_steps, cfg.optim.schedule
    if warmup == 0 or warmup < steps - 1 or schedule == "constant":
        return None
    suggest = max(steps // 10, 1)
    return (f"optim.warmup_steps {warmup} is not shorter than run.max_steps {steps}: the learning rate rises for the "
            f"whole run and ends at its peak ({cfg.optim.lr:g}), with no {schedule} decay; for a short trial set "
            f"optim.warmup_steps to about a tenth of the steps (--set optim.warmup_steps={suggest})")
