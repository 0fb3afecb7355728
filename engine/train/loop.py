"""The one training loop every stage shares: accumulation, precision, clipping, schedule, evaluation,
samples, checkpoints, events, pause / resume / stop / save, and exact resume.

A stage (engine/train/<stage>.py, interface in stage.py) supplies its set-up, batches, loss and eval. The loss of
a step is the stage's summed loss over all its micro-batches divided by their total count of units (target tokens,
pairs), counted on the device before the first forward. No host sync per micro-step: the loss is accumulated
on the device. A NaN/inf step must be skipped before the optimizer applies it: fused AdamW skips it on the
device and the loop reads the flag a step later, behind the next step's queued work (skip_step.py); other
optimizers read it before their step. run.max_nonfinite_steps skipped steps in a row stop the run as diverged, and
weights that are not finite are never saved. Loss and gradient norm are read only on logging steps.
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

import torch

from engine import checkpoint as ckpt
from engine.commands import CommandQueue
from engine.errors import UserError
from engine.evaluate import perplexity
from engine.events import EventSink
from engine.generate import Generator, SamplingParams
from engine.hardware import Runtime, decode_autocast, memory_stats
from engine.optim import (
    build_optimizer,
    eval_weights,
    lr_at,
    second_order,
    set_lr,
    train_mode,
    wants_hessian,
)
from engine.train import dist_checkpoint, distributed
from engine.train.backoff import Backoff
from engine.train.setup import RunParts
from engine.train.skip_step import skips_on_device, step_if_finite


class Trainer:
    def __init__(self, parts: RunParts, rt: Runtime, run_dir: Path, sink: EventSink, commands: CommandQueue):
        self.p, self.rt, self.run_dir, self.sink, self.commands = parts, rt, run_dir, sink, commands
        self.cfg = parts.cfg
        self.model = distributed.wrap_model(parts.model, self.cfg.hardware.parallel, rt)  # DDP, FSDP2 or itself
        self.commands = distributed.shared_commands(commands, rt)  # rank 0's commands, on every rank
        distributed.seed_rank(self.cfg.run.seed, 0, rt)
        self.stage = parts.stage
        self.extra_modules = self.stage.trainable()   # e.g. a value head: trained, saved and resumed with the run
        self.optimizer = build_optimizer(self.model, self.cfg.optim, rt.device, grad_scaler=rt.use_grad_scaler)
        for name, module in self.extra_modules.items():
            add_module_groups(self.optimizer, module, f"stage:{name}", self.cfg.optim.weight_decay,
                              self.stage.lr_ratio(name))
        self.params = [p for g in self.optimizer.param_groups for p in g["params"]]
        self.scaler = torch.amp.GradScaler(rt.device.type) if rt.use_grad_scaler else None
        self.skip_on_device = skips_on_device(self.optimizer, self.scaler)
        self.unsettled: list[tuple[int, torch.Tensor | bool, torch.Tensor, torch.Tensor]] = []  # steps not yet judged
        self.step = 0
        self.tokens_seen = 0
        self.best_val = float("inf")
        self.best_pending = False                     # the last eval improved on best_val: mark the next save
        self.best_only: Path | None = None            # the step folder saved only as `best` (replaced by a better)
        self.last_eval: tuple[int, float] | None = None
        self.skipped_steps = 0                        # steps whose loss or gradient was NaN/inf: no update applied
        self.nonfinite_streak = 0                     # how many of those in a row, up to the current step
        self.generator = Generator(parts.model, [parts.tok.im_end_id, parts.tok.eot_id, parts.tok.im_start_id],
                                   parts.tok.pad_id,
                                   decode=parts.tok.decode, autocast=decode_autocast(rt))
        self.train_batches = distributed.shard_batches(self.stage.train_batches(self), rt)  # after the generator
        self.backoff = Backoff(self.cfg.run.micro_batch, self.cfg.run.grad_accum, sink)  # OOM: split, repeat

    # ------------------------------------------------------------------ state
    def trainer_state(self, with_optimizer: bool = True) -> dict:
        state = {
            "step": self.step, "tokens_seen": self.tokens_seen, "best_val": self.best_val,
            "data_key": self.p.train_set.folder.name,
            "best_only": self.best_only.name if self.best_only else "",
            "skipped_steps": self.skipped_steps, "nonfinite_streak": self.nonfinite_streak,
            "micro_splits": self.backoff.splits,      # OOM back-off: a resume keeps the smaller micro-batch
            "data": self.train_batches.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "python": random.getstate()},
            "stage": {"modules": {name: m.state_dict() for name, m in self.extra_modules.items()},
                      "state": self.stage.state_dict()},
        }
        if with_optimizer:  # FSDP2 saves its sharded optimizer beside this file (dist_checkpoint.py)
            state["optimizer"] = self.optimizer.state_dict()
        if self.rt.device.type == "cuda":
            state["rng"]["cuda"] = torch.cuda.get_rng_state(self.rt.device)
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        return state

    def load_trainer_state(self, state: dict, folder: Path | None = None) -> None:
        self.step, self.tokens_seen = int(state["step"]), int(state["tokens_seen"])
        if state.get("data_key", self.p.train_set.folder.name) != self.p.train_set.folder.name:
            raise UserError("the training data changed since this checkpoint was saved (a file was edited, the "
                            "built-in dataset is a newer version, or the tokenizer differs), so the run cannot "
                            "continue exactly",
                            "restore the original files, or start a new run from these weights with --init",
                            kind="checkpoint")
        self.best_val = float(state.get("best_val", float("inf")))
        self.skipped_steps = int(state.get("skipped_steps", 0))
        self.nonfinite_streak = int(state.get("nonfinite_streak", 0))
        self.backoff.splits = int(state.get("micro_splits", 1))
        best_only = state.get("best_only") or ""
        self.best_only = self.run_dir / "checkpoints" / best_only if best_only else None
        saved = state.get("stage", {"modules": {}, "state": {}})
        if sorted(saved["modules"]) != sorted(self.extra_modules):
            raise UserError(f"the checkpoint holds the stage modules {sorted(saved['modules']) or 'none'}, but the "
                            f"{self.stage.name} stage trains {sorted(self.extra_modules) or 'none'}",
                            "resume with the engine version that wrote it, or start anew with --init",
                            kind="checkpoint")
        for name, module in self.extra_modules.items():
            module.load_state_dict(saved["modules"][name])
        self.stage.load_state_dict(saved["state"])
        dist_checkpoint.load_optimizer(self.optimizer, self.model, state, folder)
        self.train_batches.load_state_dict(state["data"])
        torch.set_rng_state(state["rng"]["torch"])
        random.setstate(state["rng"]["python"])
        if "cuda" in state["rng"] and self.rt.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.rt.device)
        distributed.seed_rank(self.cfg.run.seed, self.step, self.rt)
        if self.scaler is not None and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])

    # ------------------------------------------------------------------ the loop
    def run(self) -> str:
        """Train to max_steps. Returns the done status: completed or stopped."""
        cfg, total = self.cfg, self.cfg.run.max_steps
        self.model.train()
        train_mode(self.optimizer)  # schedule-free: from the saved average x back to the training point y
        for m in self.extra_modules.values():
            m.train()
        step_times: list[float] = []
        train_time, train_tokens = 0.0, 0  # since the last step event; evals, saves and pauses do not count
        if self.step == 0 and cfg.run.eval_every:
            if status := self.handle_commands():  # a stop sent during set-up or the compile: not after a whole eval
                return status
            self.evaluate()
        while self.step < total:
            status = self.handle_commands()
            if status:
                return status
            t0, tokens0 = time.perf_counter(), self.tokens_seen
            loss, grad_norm, extras, finite = self.train_step(lr_at(self.step, total, cfg.optim))
            self.step += 1  # a skipped step still counts: the schedule and the data cursor move on as on resume
            self.unsettled.append((self.step, finite, loss, grad_norm))
            logging = self.step % cfg.run.log_every == 0 or self.step == total or self.step == 1
            eval_due, checkpoint_due = every(self.step, cfg.run.eval_every), every(self.step, cfg.run.checkpoint_every)
            # Events, evals and saves need this step judged; other steps are judged one step late (skip_step.py).
            self.settle(keep=0 if logging or eval_due or checkpoint_due else 1)
            if logging:
                float(loss)  # wait for the device so the step's time is real
            elapsed = time.perf_counter() - t0
            step_times = (step_times + [elapsed])[-50:]
            train_time, train_tokens = train_time + elapsed, train_tokens + self.tokens_seen - tokens0
            if logging:
                self.emit_step(loss, grad_norm, extras, train_tokens / max(train_time, 1e-9),
                               sum(step_times) / len(step_times))
                train_time, train_tokens = 0.0, 0
            # Inside a run of skipped steps no periodic save: it would hold the weights from before the streak
            # under a newer step, and a resume from it would start one step short of the divergence limit.
            checkpoint_due = checkpoint_due and not self.nonfinite_streak
            if eval_due and self.step < total:
                self.evaluate()
                if self.best_pending and not checkpoint_due and not self.nonfinite_streak:
                    self.save("best")
            if checkpoint_due and self.step < total:
                self.save("periodic")
        if not self.last_eval or self.last_eval[0] != self.step:
            self.evaluate()
        if self.skipped_steps:
            self.sink.log(f"{self.skipped_steps} of {total} steps had a NaN/inf loss or gradient and were skipped",
                          "warning")
        self.save("final")
        return "completed"

    def train_step(self, lr: float) -> tuple[torch.Tensor, torch.Tensor, dict, bool]:
        """One optimizer step over grad_accum micro-batches. Returns (loss, grad norm, extras, finite): the loss is
        the summed loss over the step's total units; a step that is not finite leaves the weights and the
        optimizer's moments as they were. `finite` is a device tensor where the optimizer skips on the device."""
        cfg = self.cfg
        set_lr(self.optimizer, lr)
        self.lr = lr
        device = self.rt.device
        # All micro-batches first, so the step's unit count (a device tensor: no sync) scales every backward.
        batches = [{k: to_device(v, device) if isinstance(v, torch.Tensor) else v for k, v in b.items()}
                   for b in (next(self.train_batches) for _ in range(cfg.run.grad_accum))]
        loss_mean, extras = self.backoff.accumulate(self, batches)
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        params = [p for p in self.params if p.grad is not None]
        if cfg.optim.grad_clip > 0:
            grad_norm = distributed.full_value(torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip))
        else:
            grad_norm = torch.linalg.vector_norm(torch.stack([p.grad.detach().norm() for p in params]))
        if self.skip_on_device:  # no host sync: the fused kernel reads the flag itself
            finite = torch.isfinite(loss_mean) & torch.isfinite(grad_norm)
            step_if_finite(self.optimizer, finite)
        elif self.scaler:
            # fp16: inf gradients at a too-high loss scale are routine; the scaler skips those steps itself and
            # lowers its scale. Only a non-finite loss means the model itself went wrong.
            finite = bool(torch.isfinite(loss_mean))
            if finite:
                self.scaler.step(self.optimizer)
            self.scaler.update()
        else:  # one host sync: whether to apply the step must be known before optimizer.step()
            finite = bool(torch.isfinite(loss_mean) & torch.isfinite(grad_norm))
            if finite:
                self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss_mean, grad_norm, extras, finite

    def accumulate(self, batches: list[dict]) -> tuple[torch.Tensor, dict]:
        """Gradients of the step's loss: each micro-batch's summed loss over the units of all of them, so k
        micro-batches of b equal one batch of k*b. Returns that loss and the extras averaged over micro-batches."""
        stage, device = self.stage, self.rt.device
        units = torch.stack([torch.as_tensor(stage.count_units(b), device=device) for b in batches]).sum()
        units = distributed.all_reduce_sum(units)  # every rank divides by the whole step's units...
        denom = units.clamp(min=1).to(torch.float32) / self.rt.world  # ...times world, as DDP / FSDP average
        tokens = 0
        loss_sum = torch.zeros((), device=device)
        extras_sum: dict[str, torch.Tensor] = {}
        hessian = wants_hessian(self.optimizer)  # Sophia's Hessian steps differentiate the gradient once more
        for i, batch in enumerate(batches):
            with distributed.grad_sync(self.model, sync=i == len(batches) - 1), second_order(hessian):
                with self.rt.autocast():
                    loss, extras = stage.loss(self.model, batch)
                scaled = loss / denom
                (self.scaler.scale(scaled) if self.scaler else scaled).backward(create_graph=hessian)
            loss_sum += loss.detach().float()
            for k, v in extras.items():
                v = torch.as_tensor(v, device=device).detach().float()
                extras_sum[k] = extras_sum[k] + v if k in extras_sum else v
            tokens += stage.count_tokens(batch)
        loss_sum, extras_sum, tokens = distributed.step_totals(loss_sum, extras_sum, tokens, self.rt.world)
        self.tokens_seen += tokens
        return loss_sum / (denom * self.rt.world), {k: v / len(batches) for k, v in extras_sum.items()}

    def settle(self, keep: int = 0) -> None:
        """Judge the steps taken but not yet judged, all but the last `keep`: count skipped ones, stop a run that
        diverged. Reading a step's device flag waits only for that step, not for the ones queued after it."""
        while len(self.unsettled) > keep:
            step, finite, loss, grad_norm = self.unsettled.pop(0)
            if bool(finite):
                self.nonfinite_streak = 0
            else:
                self.skip_nonfinite(step, loss, grad_norm)

    def skip_nonfinite(self, step: int, loss: torch.Tensor, grad_norm: torch.Tensor) -> None:
        """Count a skipped step; after run.max_nonfinite_steps in a row, stop the run as diverged."""
        self.skipped_steps += 1
        self.nonfinite_streak += 1
        limit, lr = self.cfg.run.max_nonfinite_steps, self.cfg.optim.lr
        loss_f, norm_f = float(loss), float(grad_norm)
        what = (f"non-finite loss ({loss_f})" if not math.isfinite(loss_f)
                else f"non-finite gradient norm ({norm_f}) at loss {loss_f:.4f}")
        if self.nonfinite_streak >= limit:
            raise UserError(
                f"training diverged at step {step}: {what} ({self.nonfinite_streak} steps in a "
                f"row, run.max_nonfinite_steps is {limit}); no checkpoint was saved from the diverged weights",
                f"lower optim.lr (now {lr:g}; try {lr / 10:g}), or raise optim.warmup_steps; the last good "
                "checkpoint, if any, is the one `latest` names", kind="diverged")
        self.sink.log(f"step {step}: {what}; the update was skipped ({self.nonfinite_streak} in a "
                      f"row; the run stops as diverged at {limit})", "warning")

    def emit_step(self, loss, grad_norm, extras, tok_s: float, sec_per_step: float) -> None:
        total = self.cfg.run.max_steps
        self.sink.emit(
            "step", step=self.step, total_steps=total,
            epoch=round(getattr(self.train_batches, "epoch_progress", 0.0), 4), loss=float(loss), lr=self.lr,
            grad_norm=float(grad_norm), tokens_seen=self.tokens_seen, tokens_per_s=round(tok_s, 1),
            skipped_steps=self.skipped_steps,
            eta_s=round(sec_per_step * (total - self.step), 1),
            **memory_stats(self.rt.device), **{k: event_value(v) for k, v in extras.items()},
        )

    # ------------------------------------------------------------------ commands
    def handle_commands(self) -> str | None:
        for cmd in self.commands.poll():
            status = self.apply_command(cmd["cmd"])
            if status:
                return status
        return None

    def apply_command(self, cmd: str) -> str | None:
        if cmd == "save":
            self.save("manual")
        elif cmd == "stop":
            self.sink.log(f"stopping at step {self.step}: saving a checkpoint")
            self.save("stop")
            return "stopped"
        elif cmd == "pause":
            self.sink.emit("paused", step=self.step)
            while True:
                nxt = self.commands.wait(timeout=0.2)
                if nxt is None:
                    continue
                if nxt["cmd"] == "resume":
                    self.sink.emit("resumed", step=self.step)
                    return None
                status = self.apply_command(nxt["cmd"]) if nxt["cmd"] != "pause" else None
                if status:
                    return status
        return None

    # ------------------------------------------------------------------ eval, samples, checkpoints
    def evaluate(self) -> None:
        with eval_weights(self.optimizer):  # schedule-free evaluates (and samples) its average weights
            self._evaluate()

    def _evaluate(self) -> None:
        val_loss, metrics = self.stage.evaluate(self)
        self.last_eval = (self.step, val_loss)
        if self.step > 0 and val_loss < self.best_val:  # NaN (no val data) never counts as best
            self.best_val, self.best_pending = val_loss, True
        ppl = perplexity(val_loss) if self.stage.lm_loss else float("nan")
        self.sink.emit("eval", step=self.step, val_loss=val_loss, ppl=ppl, metrics=metrics)
        self.samples()

    def samples(self) -> None:
        tok, prompts = self.p.tok, self.cfg.run.sample_prompts
        if not prompts or not self.cfg.run.sample_tokens:
            return
        ids = [tok.encode_chat([{"role": "user", "content": q}], add_generation_prompt=True)[0] if self.p.stage.chat
               else tok.encode(q) for q in prompts]
        params = SamplingParams(max_new_tokens=self.cfg.run.sample_tokens, temperature=0.8, top_k=50,
                                seed=self.cfg.run.seed + self.step)
        for q, out in zip(prompts, self.generator.generate(ids, params), strict=True):
            self.sink.emit("sample", step=self.step, prompt=q, completion=tok.decode(out))

    def weights_finite(self) -> bool:
        """One reduction over every parameter, read once: saves are rare and the scan is cheap beside writing."""
        return distributed.all_finite(self.params)

    def save(self, reason: str) -> Path:
        root = self.run_dir / "checkpoints"
        self.settle()  # a checkpoint holds the streak of skipped steps; a diverged run stops before it saves
        if not self.weights_finite():  # never write, nor point latest/best at, weights that are NaN/inf
            raise UserError(f"training diverged by step {self.step}: the weights hold NaN/inf values, so the "
                            f"{reason} checkpoint was not saved", f"lower optim.lr (now {self.cfg.optim.lr:g}); "
                            "the last good checkpoint, if any, is the one `latest` names", kind="diverged")
        val_loss = self.last_eval[1] if self.last_eval and self.last_eval[0] == self.step else None
        is_best = self.best_pending and val_loss is not None
        self.best_pending = False
        stage_meta, stage_files = self.stage.checkpoint_extras()
        meta = {"stage": self.cfg.stage.name, "tokens_seen": self.tokens_seen, "precision": self.rt.precision,
                "val_loss": val_loss, **stage_meta}
        with eval_weights(self.optimizer):  # schedule-free saves its average weights, resumed by train_mode
            folder = dist_checkpoint.save(self, root, meta, stage_files)  # one process, or all ranks together
        if self.rt.rank > 0:
            return folder
        if is_best:
            ckpt.write_pointer(root, "best", folder.name)
            # A folder kept only because it was the best is dropped once a better one exists.
            if self.best_only is not None and self.best_only != folder:
                ckpt.remove_step(self.best_only)
            self.best_only = folder if reason == "best" else None
        ckpt.prune_checkpoints(root, self.cfg.run.keep_last)
        self.sink.emit("checkpoint", step=self.step, path=str(folder), reason=reason, val_loss=val_loss)
        return folder


def add_module_groups(optimizer: torch.optim.Optimizer, module: torch.nn.Module, kind: str,
                      weight_decay: float, lr_ratio: float = 1.0) -> None:
    """A stage's extra module joins the optimizer as its own groups (matrices decayed, biases and norms not) at
    lr_ratio times the optimizer's default scale (Muon's: its AdamW groups'); a resume loads the saved scale back.
    Decoupled weight decay shrinks a weight by lr * weight_decay a step, so the matrices' decay is divided by
    lr_ratio: a faster head is not also decayed faster."""
    params = [p for p in module.parameters() if p.requires_grad]
    matrices, others = [p for p in params if p.dim() >= 2], [p for p in params if p.dim() < 2]
    scale = optimizer.defaults.get("lr_scale", 1.0) * lr_ratio
    for group, decay in ((matrices, weight_decay / lr_ratio), (others, 0.0)):
        if group:
            optimizer.add_param_group({"params": group, "weight_decay": decay, "kind": kind, "lr_scale": scale})


def every(step: int, interval: int) -> bool:
    """Whether a periodic action (interval 0: never) falls on this step."""
    return bool(interval) and step % interval == 0


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A batch tensor onto the device. To a GPU from pinned (page-locked) memory, so the copy runs alongside the
    queued kernels instead of waiting for them; a copy from ordinary memory would stage through a bounce buffer."""
    if device.type == "cuda" and t.device.type == "cpu":
        t = t.pin_memory()
    return t.to(device, non_blocking=True)


def event_value(v: torch.Tensor) -> float | list[float]:
    """A step extra as the event carries it: a float, or a list for a 1-D tensor (e.g. load per expert)."""
    return float(v) if v.dim() == 0 else [float(x) for x in v.tolist()]
