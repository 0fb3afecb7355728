"""The reward model: the transformer with a scalar head on its last real token, trained on preference pairs with the
Bradley–Terry loss, and the loader other stages (PPO) and `minigpt eval --metrics reward` use.

  r(x, y) = w . h_last + b          h_last: the final-norm hidden state at the sequence's last token (<|im_end|>)
  L       = -log sigma(r(x, y_w) - r(x, y_l))                                   (losses.reward_pair_loss)
          + c (r(x, y_w) + r(x, y_l))^2         c = stage.rm_center, 0 = off   (losses.reward_center_loss)
The second term removes the per-prompt offset Bradley–Terry leaves free, so a score says how good the reply is,
not which prompt it answers (what PPO's advantages need).
A reward checkpoint is its own kind: its config.json says "kind": "reward_model", and the head is saved beside the
transformer's weights as reward_head.safetensors. Held-out pairwise accuracy is the share of pairs scored in order.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from engine import checkpoint as ckpt
from engine.errors import UserError
from engine.model.gpt import GPT
from engine.tokenizer import Tokenizer
from engine.train.losses import reward_center_loss, reward_pair_loss
from engine.train.pairs import PairStage
from engine.train.reward_negatives import negatives_loss, synthetic_negatives
from engine.train.stage import StageContext, add_router_loss

REWARD_KIND = "reward_model"
HEAD_FILE = "reward_head.safetensors"


def last_token_hidden(model: GPT, ids: torch.Tensor, lengths: torch.Tensor, return_aux: bool = False):
    """The final-norm hidden state at each row's last real token: ids (B, T), lengths (B,) -> (B, C); with
    return_aux, also the model's MoE router stats (None for a dense model).

    Read with a hook on the final norm, so the model's own forward runs unchanged; `last_only` keeps the unused
    vocabulary projection to one position. Padding is on the right, and attention is causal, so pads never reach it.
    """
    captured: list[torch.Tensor] = []
    handle = model.norm.register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        out = model(ids, last_only=True, return_aux=return_aux)
    finally:
        handle.remove()
    hidden = captured[0]                                                      # (B, T, C)
    last = hidden[torch.arange(ids.shape[0], device=ids.device), lengths - 1]  # (B, C)
    return (last, out[2]) if return_aux else last


def reward_head(d_model: int) -> nn.Linear:
    head = nn.Linear(d_model, 1)
    nn.init.normal_(head.weight, 0.0, 1.0 / d_model ** 0.5)
    nn.init.zeros_(head.bias)
    return head


class RewardStage(PairStage):
    name = "reward"

    def __init__(self) -> None:
        super().__init__()
        self.head: nn.Linear | None = None
        self.negatives_weight, self.center_weight, self.special = 0.0, 0.0, (0, 0)

    def setup(self, ctx: StageContext) -> None:
        super().setup(ctx)
        self.head = reward_head(ctx.model.cfg.d_model).to(ctx.rt.device)  # on resume its weights come back
        head_file = ctx.init_dir / HEAD_FILE if ctx.init_dir is not None else None
        if ctx.resume_dir is None and head_file is not None and head_file.exists():
            # --init from a reward checkpoint continues that reward model (iterated RLHF): keep its trained head
            self.head.load_state_dict(read_head(head_file, ctx.rt.device))
            ctx.sink.log(f"reward head from {head_file}")
        self.special = (ctx.tok.im_end_id, ctx.tok.pad_id)
        self.negatives_weight = ctx.cfg.stage.rm_negatives
        self.center_weight = ctx.cfg.stage.rm_center

    def trainable(self) -> dict[str, nn.Module]:
        return {"head": self.head} if self.head is not None else {}

    def scores(self, model: GPT, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """r for every row of the batch: (2B,) float32."""
        return self.scores_and_router(model, batch)[0]

    def scores_and_router(self, model: GPT, batch: dict[str, torch.Tensor]):
        """(r (2B,) float32, the model's MoE router stats or None)."""
        hidden, router = last_token_hidden(model, batch["ids"], batch["lengths"], return_aux=True)
        return self.head(hidden.to(self.head.weight.dtype)).squeeze(-1).float(), router

    def loss(self, model, batch):
        """Summed Bradley–Terry loss over the batch's pairs; rows are B chosen sides, then B rejected ones."""
        r, router = self.scores_and_router(model, batch)
        B = r.shape[0] // 2
        chosen, rejected = r[:B], r[B:]
        margin = (chosen - rejected).detach()
        extras = {"chosen_reward": chosen.detach().mean(), "rejected_reward": rejected.detach().mean(),
                  "margin": margin.mean(), "pref_accuracy": (margin > 0).float().mean()}
        loss = reward_pair_loss(chosen, rejected).sum()
        if self.center_weight > 0 and model.training:
            loss = loss + self.center_weight * reward_center_loss(chosen, rejected).sum()
        if self.negatives_weight > 0 and model.training:  # held-out figures stay those of the real pairs
            neg = synthetic_negatives(batch["ids"][:B], batch["mask"][:B], batch["lengths"][:B], *self.special)
            r_neg = self.head(last_token_hidden(model, neg["ids"], neg["lengths"]).to(self.head.weight.dtype))
            loss = loss + self.negatives_weight * negatives_loss(chosen, r_neg.squeeze(-1).float(), neg["valid"])
            extras["negatives_accuracy"] = (chosen.detach().repeat(2) > r_neg.detach().squeeze(-1))[neg["valid"]
                                                                                                  ].float().mean()
        loss, router_extras = add_router_loss(model, loss, router, B)
        return loss, {**extras, **router_extras}

    def evaluate(self, trainer):
        """Mean Bradley–Terry loss on held-out pairs (the val metric), their pairwise accuracy and mean margin."""
        return self.pair_eval(trainer)

    def checkpoint_extras(self):
        return {"kind": REWARD_KIND, "reward_head": HEAD_FILE}, {HEAD_FILE: self.head.state_dict()}


# ---------------------------------------------------------------- loading a reward checkpoint
class RewardScorer:
    """A trained reward model, frozen: scorer(input_ids (B, T), lengths (B,)) -> rewards (B,) float32.

    Sequences are chat-encoded prompt + reply ending at the reply's <|im_end|>, right-padded; `lengths` counts each
    row's tokens through that <|im_end|> (the token the head reads, as in training).
    """

    def __init__(self, model: GPT, head: nn.Linear, tokenizer_json: str, folder: Path):
        self.model, self.head, self.tokenizer_json, self.folder = model, head, tokenizer_json, folder

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    @torch.no_grad()
    def __call__(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        ids, lengths = input_ids.to(self.device), lengths.to(self.device)
        if int(lengths.min()) < 1 or int(lengths.max()) > ids.shape[1]:
            raise ValueError(f"lengths must be in 1..{ids.shape[1]}, got {lengths.tolist()}")
        hidden = last_token_hidden(self.model, ids, lengths)
        return self.head(hidden.float()).squeeze(-1)


def reward_folder(path: str | Path) -> Path:
    """The step folder of a reward checkpoint; a clear error for any other kind of checkpoint."""
    folder = ckpt.resolve_checkpoint(path)
    meta = ckpt.read_checkpoint_config(folder)
    if meta.get("kind") != REWARD_KIND:
        raise UserError(f"{folder}: a {meta.get('stage', 'model')} checkpoint, not a reward model",
                        "train one with `minigpt train --stage reward --init SFT_CHECKPOINT` and pass its run "
                        "folder", kind="checkpoint")
    return folder


def read_head(file: Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """A reward checkpoint's head weights (safetensors), or a clear error naming the file."""
    try:
        return load_file(str(file), device=str(device))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise UserError(f"{file}: cannot read the reward head ({e})", "the checkpoint is damaged or incomplete; use "
                        "another step of the reward run", kind="checkpoint") from None


def load_reward_model(path: str | Path, device: str | torch.device = "cpu") -> RewardScorer:
    """A reward checkpoint (run folder or step folder) ready to score, frozen and in eval mode on `device`."""
    folder = reward_folder(path)
    model = GPT(ckpt.model_config_of(folder))
    ckpt.load_weights(model, folder)
    head = reward_head(model.cfg.d_model)
    head.load_state_dict(read_head(folder / HEAD_FILE))
    device = torch.device(device)
    model.to(device).eval().requires_grad_(False)
    head.to(device).eval().requires_grad_(False)
    return RewardScorer(model, head, (folder / ckpt.TOKENIZER).read_text(encoding="utf-8"), folder)


def check_same_tokenizer(policy_tok: Tokenizer | str, reward_path: str | Path) -> None:
    """Refuse a reward model whose tokenizer differs from the policy's: it would read other ids than it was
    trained on and score noise. policy_tok: the policy's Tokenizer or its tokenizer.json text."""
    folder = reward_folder(reward_path)
    policy = policy_tok if isinstance(policy_tok, str) else policy_tok.to_json()
    reward = (folder / ckpt.TOKENIZER).read_text(encoding="utf-8")
    if json.loads(policy) != json.loads(reward):  # as parsed JSON: key order and spacing do not matter
        raise UserError(f"the reward model {folder} uses a different tokenizer than the policy",
                        "train the reward model from the same SFT checkpoint (stage.init) the policy starts from",
                        kind="config")
