"""What PPO and GRPO share on top of the Stage interface: the frozen reference, the reward source, the prompts, the
rollout iterator with its early stop on KL, and the evaluation (mean held-out reward and task accuracy, with
samples showing prompt, completion and reward). A subclass says how a rollout becomes training rows (`rollout`)
and what its loss is (`loss`).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import torch

from engine import checkpoint as ckpt
from engine.errors import UserError
from engine.evaluate import task_accuracy
from engine.generate import Generator
from engine.model.gpt import GPT
from engine.model.lora import BaseModelView
from engine.train import rollout as ro
from engine.train.reward_source import build_reward_source, check_answers
from engine.train.stage import Stage, StageContext

if TYPE_CHECKING:
    from engine.train.loop import Trainer

N_SAMPLES = 3  # held-out prompts shown as samples (prompt, completion, reward) at each eval


class RLStage(Stage):
    kind = "rl_prompt"
    chat = True
    lm_loss = False
    needs_reference = True

    # ------------------------------------------------------------------ set-up and state
    def setup(self, ctx: StageContext) -> None:
        self.ctx, self.cfg, self.tok = ctx, ctx.cfg, ctx.tok
        s = ctx.cfg.stage
        self.reward = build_reward_source(s.reward, ctx.tok, ctx.rt.device, ctx.cfg.model.max_seq_len,
                                          s.reward_combine)
        self.reference = self.build_reference(ctx) if self.needs_reference else None
        # KL(rollout policy || policy) per micro-batch of the last step: k3 on the rollout tokens, never negative
        self.approx_kl: list[torch.Tensor] = []
        self.last_kl = 0.0

    @staticmethod
    def build_reference(ctx: StageContext) -> GPT:
        """A frozen copy of the ORIGINAL init weights (also on resume, when the policy comes from the run); with
        LoRA the policy's own base with its adapters bypassed, so no second copy is held."""
        if ctx.cfg.lora.rank:
            return BaseModelView(ctx.model)
        if ctx.init_dir is None:
            raise UserError(f"the {ctx.cfg.stage.name} stage needs stage.init for its frozen reference",
                            "set stage.init to an SFT checkpoint", kind="config")
        cfg = dataclasses.replace(ckpt.model_config_of(ctx.init_dir), dropout=0.0)
        ref = GPT(cfg)
        ckpt.load_weights(ref, ctx.init_dir)
        ref.to(ctx.rt.device).eval().requires_grad_(False)
        return ref

    def state_dict(self) -> dict:
        state = {"last_kl": self.kl_of_last_step()}
        if hasattr(self.reward, "state_dict"):  # an ensemble's per-member scale, fixed on its first batch
            state["reward"] = self.reward.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.last_kl, self.approx_kl = float(state.get("last_kl", 0.0)), []
        if "reward" in state and hasattr(self.reward, "load_state_dict"):
            self.reward.load_state_dict(state["reward"])

    def kl_of_last_step(self) -> float:
        """The policy's KL from the rollout policy, averaged over the last step's micro-batches (one host read)."""
        if self.approx_kl:
            self.last_kl, self.approx_kl = float(torch.stack(self.approx_kl).mean()), []
        return self.last_kl

    def stop_early(self) -> bool:
        target = self.cfg.stage.kl_target
        return target > 0 and self.kl_of_last_step() > target

    # ------------------------------------------------------------------ rollouts
    def units(self, data, cfg):
        return data.n_docs

    def train_batches(self, trainer: Trainer):
        p, cfg = trainer.p, trainer.cfg
        self.trainer = trainer
        limit = cfg.model.max_seq_len - cfg.stage.rollout_tokens - 1     # prompt + reply fit the model
        if limit < 8:
            raise UserError(f"stage.rollout_tokens {cfg.stage.rollout_tokens} leaves no room for a prompt in the "
                            f"model's max_seq_len {cfg.model.max_seq_len}", "lower stage.rollout_tokens", kind="config")
        self.train_prompts = ro.load_prompts(p.data.train, p.data.read_as(p.data.train)["encoding"], p.tok, limit)
        self.val_prompts = (ro.load_prompts(p.data.val, p.data.read_as(p.data.val)["encoding"], p.tok, limit)
                            if p.data.val else self.train_prompts)
        for prompts, paths in ((self.train_prompts, p.data.train), (self.val_prompts, p.data.val or p.data.train)):
            check_answers(self.reward, [q.answer for q in prompts], ", ".join(str(x) for x in paths))
        if len(self.train_prompts) != p.train_set.n_docs:  # pretokenize and we must number records alike
            raise UserError(f"read {len(self.train_prompts)} prompts but pretokenized {p.train_set.n_docs}",
                            "run `minigpt data check` on the files", kind="data")
        self.train_items = self.task_filter(np.asarray(p.train_items), cfg.stage.tasks)
        self.generator = Generator(trainer.model, [p.tok.im_end_id], p.tok.pad_id, decode=p.tok.decode,
                                   autocast=trainer.rt.autocast)
        self.check_batch(cfg)
        return ro.RolloutBatches(self.next_rollout, cfg.stage.ppo_epochs, self.stop_early)

    def task_filter(self, items: np.ndarray, tasks: list[str]) -> np.ndarray:
        """The training prompts of the families in stage.tasks (all of them when it is empty, or when no prompt names
        a family: the stage presets set it for the built-in data). A curriculum: a family the start model never
        solves gives groups of equal rewards, which teach nothing."""
        found = sorted({q.task for q in self.train_prompts if q.task})
        if not tasks:
            return items
        if not found:
            self.ctx.sink.log(f"{self.name}: stage.tasks {', '.join(tasks)} ignored: the prompts name no task family "
                              "(no \"task\" field), so every prompt is used", "warning")
            return items
        kept = np.asarray([i for i in items if self.train_prompts[int(i)].task in tasks], dtype=items.dtype)
        if not len(kept):
            raise UserError(f"stage.tasks {tasks}: no training prompt belongs to these task families",
                            f"the prompts' families are: {', '.join(found)}; or set stage.tasks=[] for all",
                            kind="config")
        self.ctx.sink.log(f"{self.name}: training on {len(kept):,} of {len(items):,} prompts (stage.tasks "
                          f"{', '.join(tasks)})")
        return kept

    def next_rollout(self, index: int) -> list[dict]:
        self.approx_kl = []  # the early stop reads the KL of this rollout's last pass only
        return self.rollout(index)

    def check_batch(self, cfg) -> None:
        """A subclass refuses a batch shape it cannot use."""

    def sample_replies(self, prompts: list[ro.Prompt], index: int) -> list[list[list[int]]]:
        """Replies for `prompts`, one generate call per micro-batch of run.batch_size, seeded by rollout index."""
        cfg, eos, bs = self.cfg, self.tok.im_end_id, self.cfg.run.batch_size
        out = []
        for k in range(0, len(prompts), bs):
            seed = (cfg.run.seed * 1_000_003 + index) * 1009 + k // bs
            done = ro.sample(self.generator, [q.ids for q in prompts[k:k + bs]], cfg.stage.rollout_tokens,
                             cfg.stage.rollout_temperature, seed)
            out.append([ro.reply_ids(c, eos) for c in done])
        return out

    def score(self, prompts: list[ro.Prompt], replies: list[list[int]]) -> torch.Tensor:
        texts = [self.tok.decode(r) for r in replies]
        scores = self.reward.score([q.messages for q in prompts], [q.answer for q in prompts], texts)
        return torch.tensor(scores, dtype=torch.float32, device=self.ctx.rt.device)

    def rows(self, prompts: list[ro.Prompt], replies: list[list[int]]) -> dict[str, torch.Tensor]:
        device = self.ctx.rt.device
        return {k: v.to(device) for k, v in ro.build_rows([q.ids for q in prompts], replies,
                                                           self.tok.pad_id).items()}

    def rollout(self, index: int) -> list[dict]:
        raise NotImplementedError

    def count_units(self, batch):
        return batch["mask"].sum()

    def count_tokens(self, batch):
        return batch["x"].numel()

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, trainer: Trainer) -> tuple[float, dict]:
        """(-mean held-out reward, metrics): greedy replies to held-out prompts scored by stage.reward, and the
        built-in task accuracy. The val metric is the negated reward, so `best` is the most rewarded step."""
        cfg, p = trainer.cfg, trainer.p
        n = min(len(p.val_items), cfg.run.eval_batches * cfg.run.batch_size)
        metrics: dict = {}
        reward = float("nan")
        if n:
            prompts = [self.val_prompts[int(i)] for i in np.asarray(p.val_items)[:n]]
            replies = []
            for k in range(0, n, cfg.run.batch_size):
                chunk = prompts[k:k + cfg.run.batch_size]
                replies += [c.ids for c in ro.sample(self.generator, [q.ids for q in chunk], cfg.stage.rollout_tokens,
                                                     0.0, None)]
            scores = self.score(prompts, replies).cpu()
            reward = float(scores.mean())
            metrics["reward"] = reward
            for q, r, s in list(zip(prompts, replies, scores.tolist(), strict=True))[:N_SAMPLES]:
                trainer.sink.emit("sample", step=trainer.step, prompt=q.messages[-1]["content"],
                                  completion=self.tok.decode(r), reward=s)
        if p.task_items:
            metrics.update(task_accuracy(trainer.generator, p.tok, p.task_items, chat=True))
        return -reward, metrics


def rollout_stats(scores: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """The step metrics every micro-batch of a rollout carries (the loop averages them: equal here)."""
    return {"reward_mean": scores.mean(), "reward_std": scores.std(unbiased=False),
            "response_length": mask.sum(-1).mean()}


def split(batch: dict[str, torch.Tensor], size: int) -> list[dict[str, torch.Tensor]]:
    """Rows of a rollout into micro-batches of `size`; 0-d entries (rollout stats) go to each."""
    n = batch["x"].shape[0]
    return [{k: (v if v.dim() == 0 else v[i:i + size]) for k, v in batch.items()} for i in range(0, n, size)]
