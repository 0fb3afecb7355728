"""Direct preference optimisation: the policy learns from preference pairs (x, y_w chosen, y_l rejected) with no
reward model and no sampling, held near a frozen reference copy of the checkpoint it started from.

With log-probs summed over the reply tokens only (prompt, role headers and padding score nothing),
  h = [log pi(y_w|x) - log ref(y_w|x)] - [log pi(y_l|x) - log ref(y_l|x)]
  sigmoid:  L = -(1 - eps) log sigma(beta h) - eps log sigma(-beta h)     (eps = stage.label_smoothing)
  ipo:      L = (h - 1 / (2 beta))^2
  hinge:    L = max(0, 1 - beta h)
  simpo:    no reference; h from length-normalised log-probs log pi(y|x) / |y|, L as sigmoid with a margin gamma
With stage.rpo_alpha = a > 0 each pair also adds the chosen reply's mean NLL, a * -log pi(y_w|x) / |y_w| (RPO), which
keeps the chosen answer's own likelihood from sinking while the margin grows.
The implicit rewards beta (log pi - log ref) of each side are the step's chosen_reward / rejected_reward, their
difference the margin, and pref_accuracy the share of pairs whose chosen side scores higher. At step 0 the policy
equals the reference, so h = 0 and the sigmoid loss is ln 2. The formulas are in engine/train/losses.py (dpo_loss).
"""

from __future__ import annotations

import torch

from engine import checkpoint as ckpt
from engine.errors import UserError
from engine.evaluate import task_accuracy
from engine.model.gpt import GPT
from engine.model.lora import BaseModelView
from engine.train.losses import dpo_loss, target_counts
from engine.train.pairs import PairStage, reply_targets
from engine.train.stage import StageContext, add_router_loss


class DPOStage(PairStage):
    name = "dpo"

    def __init__(self) -> None:
        super().__init__()
        self.reference: GPT | BaseModelView | None = None
        self.beta, self.loss_type, self.label_smoothing, self.rpo_alpha = 0.1, "sigmoid", 0.0, 0.0

    def setup(self, ctx: StageContext) -> None:
        super().setup(ctx)
        s = ctx.cfg.stage
        self.beta, self.loss_type, self.label_smoothing = s.beta, s.loss_type, s.label_smoothing
        self.rpo_alpha = s.rpo_alpha
        if self.loss_type == "simpo":
            ctx.sink.log("dpo: loss_type simpo is reference-free; no reference model is kept")
            return
        if ctx.init_dir is None:
            raise UserError("the dpo stage compares the policy with a frozen reference built from stage.init, and "
                            "stage.init is not set or no longer readable",
                            "set stage.init (or --init) to the SFT checkpoint the run started from, or use "
                            "stage.loss_type=simpo (no reference)", kind="config")
        if ctx.cfg.lora.rank:  # the policy's own frozen base, adapters bypassed: no second copy of the weights
            self.reference = BaseModelView(ctx.model)
            ctx.sink.log(f"dpo: the reference is the LoRA base (adapters off); loss {self.loss_type}, beta {self.beta}")
            return
        # The ORIGINAL init, also on resume: the reference never moves, so it is rebuilt, not saved.
        reference = GPT(ctx.model.cfg)
        ckpt.load_weights(reference, ctx.init_dir)
        self.reference = reference.to(ctx.rt.device).eval().requires_grad_(False)
        ctx.sink.log(f"dpo: frozen reference from {ctx.init_dir}; loss {self.loss_type}, beta {self.beta}")

    def loss(self, model, batch):
        """Summed preference loss over the batch's pairs; rows are B chosen sides, then B rejected ones."""
        out, losses, _, router = self.preference(model, batch)
        loss, router_extras = add_router_loss(model, losses.sum(), router, losses.shape[0])
        return loss, {**step_extras(out), **router_extras}

    def preference(self, model, batch):
        """(dpo_loss of the batch's pairs, their losses with the RPO term (B,), the policy's reply log-probs (2B,),
        the policy's MoE router stats or None)."""
        x, y = reply_targets(batch)                                    # (2B, L-1)
        _, nll, router = model(x, y, reduction="none", return_aux=True)  # (2B, L-1), 0 outside the replies
        logp = -nll.sum(dim=-1)                                        # (2B,) log pi(y|x), summed over reply tokens
        B = logp.shape[0] // 2
        ref_chosen = ref_rejected = None
        if self.reference is not None:
            with torch.no_grad():
                _, ref_nll = self.reference(x, y, reduction="none")
            ref_logp = -ref_nll.sum(dim=-1)
            ref_chosen, ref_rejected = ref_logp[:B], ref_logp[B:]
        lengths = target_counts(y)                                     # (2B,) |y|, for simpo
        out = dpo_loss(logp[:B], logp[B:], ref_chosen, ref_rejected, self.beta, self.loss_type,
                       self.label_smoothing, chosen_len=lengths[:B], rejected_len=lengths[B:])
        losses = out.losses
        if self.rpo_alpha:
            losses = losses + self.rpo_alpha * -logp[:B] / lengths[:B].clamp(min=1)
        return out, losses, logp, router

    def eval_batch(self, model, batch):
        """The training loss and extras, plus policy_pref_accuracy: the share of pairs where the policy itself
        gives the chosen reply the higher log-prob (meaningful before training too, where the implicit rewards
        are all 0)."""
        out, losses, logp, _ = self.preference(model, batch)
        B = logp.shape[0] // 2
        return losses.sum(), {**step_extras(out), "policy_pref_accuracy": (logp[:B] > logp[B:]).float().mean()}

    def evaluate(self, trainer):
        """Mean preference loss on held-out pairs (the val metric), their rewards, margin and accuracy, and the
        built-in tasks' accuracy."""
        val_loss, metrics = self.pair_eval(trainer)
        p = trainer.p
        if p.task_items:
            metrics.update(task_accuracy(trainer.generator, p.tok, p.task_items, chat=True))
        return val_loss, metrics


def step_extras(out) -> dict[str, torch.Tensor]:
    """The step event's preference keys, each the mean over the batch's pairs."""
    return {"chosen_reward": out.chosen_reward.mean(), "rejected_reward": out.rejected_reward.mean(),
            "margin": out.margin.mean(), "pref_accuracy": out.pref_accuracy.mean()}
