"""What a training stage says, and only that; set-up, accumulation, precision, clipping, schedule, evaluation,
checkpoints, exact resume and events are the shared loop's (engine/train/loop.py). One stage, one file.

The loop calls, in order (a stage overrides only what differs from next-token cross-entropy on offline batches):
  setup(ctx)             once, after the policy is built and before the optimizer: build a frozen reference (from
                         ctx.init_dir, the ORIGINAL stage.init also on resume), a value head, a reward model.
  trainable()            extra modules trained beside the policy (their own optimizer param groups, kind
                         "stage:<name>"); their weights go to trainer_state.pt and come back on resume.
  lr_ratio(name)         the learning rate of extra module `name` as a multiple of optim.lr (default 1): a head
                         trained from scratch beside a trained policy wants a larger step (PPO's value head).
  state_dict() / load_state_dict()   other stage state to resume exactly (rollout RNG, running stats): tensors,
                         numbers, strings, lists and dicts only, as trainer_state.pt loads with weights_only=True.
                         Frozen modules are not saved: setup rebuilds them.
  train_batches(trainer) the training iterator (default: `batches` over the training split). RL stages produce
                         rollouts of the live policy here (trainer.model, trainer.generator). It keeps state_dict() /
                         load_state_dict() for exact resume, and may offer epoch_progress.
  count_units(batch)     the micro-batch's loss units (target tokens, pairs, reply tokens) as a device tensor. The loop
                         fetches the step's micro-batches first and divides every summed loss by their total, so
                         grad_accum=k equals a k-times batch, and eval weighs units the same way.
  loss(model, batch)     (SUM of the loss over the batch's units, extras). Extras are 0-d or 1-D tensors, averaged
                         over the step's micro-batches, sent as floats or lists in the step event. A stage calls the
                         policy with return_aux=True and passes the router's stats to add_router_loss (MoE models).
  evaluate(trainer)      (val metric, metrics): the val metric is tracked as `best` (lower is better); the default is
                         the unit-weighted val loss and the built-in task accuracy.
  count_tokens(batch)    tokens the step processed (tokens_seen, tokens/s), read without a host sync.
  split_batch(batch, n)  the batch as n smaller micro-batches of the same rows (OOM back-off, engine/train/backoff.py).
  checkpoint_extras()    (metadata for config.json, {file name: state dict} saved as safetensors beside the weights):
                         what another program needs to load the checkpoint as the stage's own kind (a reward head).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from engine.config import Config
from engine.data.pretokenize import TokenizedSet
from engine.evaluate import mean_loss, task_accuracy
from engine.events import EventSink
from engine.hardware import Runtime
from engine.tokenizer import Tokenizer

if TYPE_CHECKING:
    from engine.train.loop import Trainer


@dataclass
class StageContext:
    """The run's parts a stage may build on in `setup`."""
    cfg: Config
    tok: Tokenizer
    rt: Runtime
    workspace: Path
    sink: EventSink
    model: torch.nn.Module          # the policy, on rt.device, weights loaded (from init or the resumed step)
    init_dir: Path | None           # the step folder stage.init named when the run began (also on resume); None: none
    resume_dir: Path | None         # the step folder this run resumes from, or None


class Stage:
    name: str = ""
    kind: str = ""            # record kind read from data files
    chat: bool = False        # sample prompts are wrapped in the chat template (task evals always are)
    lm_loss: bool = True      # the val metric is a token cross-entropy, so its perplexity is reported

    # ------------------------------------------------------------------ set-up and state
    def setup(self, ctx: StageContext) -> None:
        """Build what the stage needs beside the policy. Default: nothing."""

    def trainable(self) -> dict[str, torch.nn.Module]:
        """Extra modules the optimizer trains with the policy, by a name stable across resumes."""
        return {}

    def lr_ratio(self, name: str) -> float:
        """The learning rate of trainable()[name] as a multiple of optim.lr."""
        return 1.0

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        if state:
            raise ValueError(f"the {self.name} stage keeps no state, but the checkpoint holds {sorted(state)}")

    def checkpoint_extras(self) -> tuple[dict, dict[str, dict[str, torch.Tensor]]]:
        """Extra config.json keys and extra safetensors files for each step folder. Default: none."""
        return {}, {}

    # ------------------------------------------------------------------ batches
    def units(self, data: TokenizedSet, cfg: Config) -> int:
        """How many items (blocks or conversations) the split and the batches walk over."""
        raise NotImplementedError

    def batches(self, data: TokenizedSet, items: np.ndarray, cfg: Config, tok: Tokenizer, shuffle: bool) -> Iterator:
        """An endless iterator of offline batches with state_dict()/load_state_dict() cursors."""
        raise NotImplementedError

    def train_batches(self, trainer: Trainer) -> Iterator:
        p = trainer.p
        return self.batches(p.train_set, p.train_items, p.cfg, p.tok, shuffle=True)

    # ------------------------------------------------------------------ loss
    def count_units(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Target tokens (those not -100), counted on the device."""
        return (batch["y"] != -100).sum()

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        """Summed cross-entropy over the target tokens (plus an MoE model's router loss while training)."""
        _, loss, router = model(batch["x"], batch["y"], reduction="sum", return_aux=True)
        return add_router_loss(model, loss, router, self.count_units(batch))

    def count_tokens(self, batch: dict[str, torch.Tensor]) -> int:
        return batch["x"].numel()

    def split_batch(self, batch: dict[str, torch.Tensor], parts: int) -> list[dict[str, torch.Tensor]]:
        """The batch's rows in `parts` near-equal micro-batches (OOM back-off); 0-d entries go to each, and parts
        left empty are dropped. A stage whose rows are not independent (pairs) overrides this."""
        if parts == 1:
            return [batch]
        rows = next(v.shape[0] for v in batch.values() if isinstance(v, torch.Tensor) and v.dim())
        return [{k: v[idx] if isinstance(v, torch.Tensor) and v.dim() else v for k, v in batch.items()}
                for idx in torch.arange(rows).tensor_split(parts) if len(idx)]

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, trainer: Trainer) -> tuple[float, dict]:
        """Unit-weighted loss over run.eval_batches held-out batches, and exact-match accuracy on the built-in tasks."""
        cfg, p, rt = trainer.cfg, trainer.p, trainer.rt
        val_loss = float("nan")
        if len(p.val_items) and cfg.run.eval_batches:
            batches = self.batches(p.val_set, p.val_items, cfg, p.tok, shuffle=False)
            n = min(cfg.run.eval_batches, max(1, len(p.val_items) // cfg.run.batch_size))
            val_loss = mean_loss(trainer.model, batches, n, rt.device, rt.autocast,
                                 loss_fn=lambda model, batch: (self.loss(model, batch)[0], self.count_units(batch)))
        metrics = task_accuracy(trainer.generator, p.tok, p.task_items, chat=True) if p.task_items else {}
        return val_loss, metrics


def add_router_loss(model: torch.nn.Module, loss: torch.Tensor, router, units: torch.Tensor | int
                    ) -> tuple[torch.Tensor, dict]:
    """A stage's summed loss plus an MoE model's router loss, and the router's step extras (aux_loss, z_loss,
    expert_load). router: the RouterStats the model returned with return_aux=True, None for a dense model.

      loss + units * (aux_loss_coef * aux + z_loss_coef * z)
    The loop divides a step's summed loss by its units, so the router loss enters once per step with its own
    coefficients, whatever the batch size or grad_accum. Only while training: a val loss stays the stage's own
    (a dense and an MoE model compare on the same number), and evaluation gets no extras."""
    if router is None or not model.training:
        return loss, {}
    return loss + router.loss * units, router.extras()
