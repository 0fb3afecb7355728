"""Knowledge distillation: a student learns chat replies from a frozen teacher checkpoint's softened predictions,
mixed with the hard labels. It reads SFT data (ChatML conversations, loss on the assistant's replies only), since
the teacher's knowledge that matters here is how it answers; the student starts from stage.init or from scratch.

At every target token i (the reply tokens SFT trains on; prompts and padding carry -100 and score nothing), with
student logits s_i, teacher logits t_i, temperature T (stage.temperature) and mixing weight a (stage.alpha):
  p_i  = softmax(t_i / T)                 the teacher's softened next-token distribution (no gradient)
  q_i  = softmax(s_i / T)                 the student's, softened alike
  KL_i = sum_v p_i,v (log p_i,v - log q_i,v)          forward KL(teacher || student): the student must cover every
                                                      token the teacher finds likely, not only the label
  CE_i = -log softmax(s_i)[y_i]                       the usual hard-label cross-entropy, at temperature 1
  L    = sum_i [ a * T^2 * KL_i + (1 - a) * CE_i ]    summed over the target tokens, like every stage's loss
The gradient of KL_i with respect to s_i is (q_i - p_i) / T, so the T^2 factor keeps the soft term's gradients the
size of the hard term's whatever T is (Hinton et al., 2015). a = 0 is plain SFT; a = 1 learns from the teacher only.

The teacher must use the student's tokenizer (the same ids must mean the same text) and is checked before the first
step. It is rebuilt from stage.teacher on resume, never saved with the run; the step folder it resolved to is kept
in the stage state, so a resume learns from the same weights even if the teacher's run has moved on since. The val
metric is the student's plain cross-entropy (comparable with an SFT run's val loss); `teacher_kl` beside it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from engine import checkpoint as ckpt
from engine.errors import UserError
from engine.evaluate import mean_loss, task_accuracy
from engine.model.gpt import GPT
from engine.train.sft import SFTStage
from engine.train.stage import StageContext

REWARD_KIND = "reward_model"  # config.json "kind" of a reward-model checkpoint (engine/train/reward.py)


def distill_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor, alpha: float,
                 temperature: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The module docstring's L over one batch's target tokens, and the summed KL_i and CE_i it mixes.

    student_logits, teacher_logits: (N, V) at the N target tokens; targets: (N,) token ids. Computed in fp32.
    Returns (L, sum of KL_i, sum of CE_i), each a 0-d tensor summed over the N tokens (0 when N is 0).
    """
    s, t = student_logits.float(), teacher_logits.float()                      # (N, V)
    log_q = F.log_softmax(s / temperature, dim=-1)                             # (N, V) student, softened
    log_p = F.log_softmax(t / temperature, dim=-1)                             # (N, V) teacher, softened
    kl = (log_p.exp() * (log_p - log_q)).sum(dim=-1)                           # (N,) KL(teacher || student)
    ce = F.cross_entropy(s, targets, reduction="none")                         # (N,) hard labels, T = 1
    loss = (alpha * temperature ** 2 * kl + (1.0 - alpha) * ce).sum()
    return loss, kl.sum(), ce.sum()


def teacher_folder(spec: str) -> Path:
    """The teacher's step folder from stage.teacher (a run folder or a step folder); errors name the key."""
    folder = Path(spec).expanduser()
    if not folder.exists():
        raise UserError(f"stage.teacher: {folder}: no such checkpoint or run folder",
                        "train the teacher first (e.g. `minigpt train --stage sft`) and name its run folder",
                        kind="config")
    try:
        folder = ckpt.resolve_checkpoint(folder)
    except UserError as e:
        raise UserError(f"stage.teacher: {e.message}", e.hint, kind="config") from None
    if ckpt.read_checkpoint_config(folder).get("kind") == REWARD_KIND:
        raise UserError(f"stage.teacher: {folder} is a reward model, not a language model",
                        "name an SFT or pretrain run as the teacher", kind="config")
    return folder


def check_teacher_tokenizer(student_tokenizer_json: str, folder: Path) -> None:
    """Refuse a teacher whose tokenizer differs from the student's: its distribution over ids would be over other
    pieces of text, and the KL would teach noise."""
    try:
        teacher = json.loads((folder / ckpt.TOKENIZER).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"stage.teacher: cannot read {folder / ckpt.TOKENIZER} ({e})",
                        "the teacher checkpoint is incomplete; name another step of its run", kind="config") from None
    if teacher != json.loads(student_tokenizer_json):  # as parsed JSON: key order and spacing do not matter
        raise UserError(f"stage.teacher: the teacher {folder} uses a different tokenizer than the student",
                        f"the student must share the teacher's tokenizer: set tokenizer.path to {folder} (when "
                        "training from scratch), or start from a checkpoint (stage.init) with that tokenizer",
                        kind="config")


def load_teacher(folder: Path, student_cfg, device: torch.device, seq_len: int) -> GPT:
    """The teacher, frozen and in eval mode on `device`; its vocabulary must line up with the student's."""
    cfg = dataclasses.replace(ckpt.model_config_of(folder), dropout=0.0)
    if cfg.vocab_size != student_cfg.vocab_size:
        raise UserError(f"stage.teacher: the teacher's vocabulary has {cfg.vocab_size} rows and the student's "
                        f"{student_cfg.vocab_size}", f"set model.vocab_size to {cfg.vocab_size} (or 0 for the "
                        "tokenizer's size when both were trained that way)", kind="config")
    if cfg.max_seq_len < seq_len:
        raise UserError(f"stage.teacher: the teacher reads at most {cfg.max_seq_len} tokens, and data.seq_len is "
                        f"{seq_len}", f"use data.seq_len <= {cfg.max_seq_len}", kind="config")
    teacher = GPT(cfg)
    ckpt.load_weights(teacher, folder)
    return teacher.to(device).eval().requires_grad_(False)


class DistillStage(SFTStage):
    name = "distill"

    def __init__(self) -> None:
        super().__init__()
        self.teacher: GPT | None = None
        self.teacher_dir: Path | None = None
        self.alpha, self.temperature = 0.5, 2.0

    def setup(self, ctx: StageContext) -> None:
        s = ctx.cfg.stage
        self.alpha, self.temperature, self.ctx = s.alpha, s.temperature, ctx
        self.teacher_dir = teacher_folder(s.teacher)
        check_teacher_tokenizer(ctx.tok.to_json(), self.teacher_dir)
        self.teacher = load_teacher(self.teacher_dir, ctx.model.cfg, ctx.rt.device, ctx.cfg.data.seq_len)
        n = sum(p.numel() for p in self.teacher.parameters())
        ctx.sink.log(f"distill: frozen teacher {self.teacher_dir} ({n:,} parameters); alpha {self.alpha}, "
                     f"temperature {self.temperature}")

    def state_dict(self) -> dict:
        return {"teacher": str(self.teacher_dir)}

    def load_state_dict(self, state: dict) -> None:
        """On resume, learn from the very step folder the run began with (a teacher run may have trained on)."""
        saved = Path(state.get("teacher", "")) if state.get("teacher") else None
        if saved is None or saved == self.teacher_dir:
            return
        if not saved.is_dir():
            raise UserError(f"stage.teacher: the run learned from {saved}, which is gone",
                            "an exact resume needs that teacher checkpoint; restore it, or start a new run",
                            kind="config")
        check_teacher_tokenizer(self.ctx.tok.to_json(), saved)
        self.teacher = load_teacher(saved, self.ctx.model.cfg, self.ctx.rt.device, self.ctx.cfg.data.seq_len)
        self.teacher_dir = saved
        self.ctx.sink.log(f"distill: resumed with the run's original teacher {saved}")

    def terms(self, model, batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(L, sum KL_i, sum CE_i) over the batch's target tokens."""
        x, y = batch["x"], batch["y"]
        mask = y != -100                                                       # (B, T) the reply tokens
        logits, _ = model(x)                                                   # (B, T, V)
        with torch.inference_mode():
            teacher_logits, _ = self.teacher(x)                                # (B, T, V), no graph kept
            teacher_logits = teacher_logits[mask]                              # (N, V)
        # An inference tensor cannot enter autograd; a clone made outside inference mode is an ordinary one.
        return distill_loss(logits[mask], teacher_logits.clone(), y[mask], self.alpha, self.temperature)

    def loss(self, model, batch):
        """Summed distillation loss over the target tokens; extras: the mean KL to the teacher and the mean hard CE."""
        loss, kl, ce = self.terms(model, batch)
        n = self.count_units(batch).clamp(min=1)
        return loss, {"kl": kl.detach() / n, "ce": ce.detach() / n}

    def evaluate(self, trainer):
        """The student's plain cross-entropy on held-out replies (the val metric, as SFT's), its mean KL to the
        teacher (`teacher_kl`), from one pass; and the built-in tasks' accuracy."""
        cfg, p, rt = trainer.cfg, trainer.p, trainer.rt
        val_loss, metrics = float("nan"), {}
        if len(p.val_items) and cfg.run.eval_batches:
            kl_sum: list[torch.Tensor] = []
            units: list[torch.Tensor] = []

            def ce_and_kl(model, batch):
                _, kl, ce = self.terms(model, batch)
                kl_sum.append(kl.detach().double())
                units.append(self.count_units(batch))
                return ce, units[-1]

            batches = self.batches(p.val_set, p.val_items, cfg, p.tok, shuffle=False)
            n = min(cfg.run.eval_batches, max(1, len(p.val_items) // cfg.run.batch_size))
            val_loss = mean_loss(trainer.model, batches, n, rt.device, rt.autocast, loss_fn=ce_and_kl)
            metrics["teacher_kl"] = float(torch.stack(kl_sum).sum() / torch.stack(units).sum().clamp(min=1))
        if p.task_items:
            metrics.update(task_accuracy(trainer.generator, p.tok, p.task_items, chat=True))
        return val_loss, metrics

    def checkpoint_extras(self):
        return {"teacher": str(self.teacher_dir)}, {}
