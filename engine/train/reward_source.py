"""Where PPO and GRPO get their rewards: `stage.reward` names a rule (engine/train/rewards.py) or a reward-model
checkpoint folder (engine/train/reward.py loads it), or a list of such folders (an ensemble,
engine/train/reward_ensemble.py). Each scores a batch of (prompt turns, completion text) pairs and returns one
float each. Everything that can be wrong with the source is said before training starts.
"""

from __future__ import annotations

from pathlib import Path

import torch

from engine.config import is_reward_path
from engine.errors import UserError
from engine.tokenizer import Tokenizer
from engine.train.reward_ensemble import EnsembleSource
from engine.train.rewards import END_MARKS, RuleReward, get_rule_reward


class RuleSource:
    """A named rule applied to each completion's text with the record's reference answer."""

    def __init__(self, rule: RuleReward):
        self.rule = rule
        self.name = rule.name
        self.needs_answer = rule.needs_answer

    def score(self, messages: list[list[dict]], answers: list[str | None], texts: list[str]) -> list[float]:
        return [self.rule(text, answer) for text, answer in zip(texts, answers, strict=True)]


class ModelSource:
    """A reward model scoring the whole conversation, rendered with the chat template as it was trained on."""

    needs_answer = False

    def __init__(self, path: str, tok: Tokenizer, device: torch.device, max_len: int):
        try:  # written beside the reward-model stage; imported only when a checkpoint is named
            from engine.train.reward import check_same_tokenizer, load_reward_model
        except ImportError as e:
            raise UserError(f"stage.reward: {path} names a reward-model checkpoint, but this engine cannot load one "
                            f"({e})", "use a rule reward (exact_match, numeric_match, format)", kind="config") from None
        folder = Path(path).expanduser()
        if not folder.exists():
            raise UserError(f"stage.reward: {folder}: no such reward-model checkpoint folder",
                            "train one with `--stage reward`, or name a rule (exact_match, numeric_match, format)",
                            kind="config")
        if check_same_tokenizer(tok, folder) is False:
            raise_tokenizer_differs(folder)
        self.model = load_reward_model(folder, device)
        if getattr(self.model, "tokenizer_json", None) != tok.to_json():  # belt and braces: the ids must mean the same
            raise_tokenizer_differs(folder)
        self.name, self.tok, self.device, self.max_len = str(folder), tok, device, max_len

    @torch.no_grad()
    def score(self, messages: list[list[dict]], answers: list[str | None], texts: list[str]) -> list[float]:
        rows = [self.rendered(m, t) for m, t in zip(messages, texts, strict=True)]
        ids = torch.full((len(rows), max(len(r) for r in rows)), self.tok.pad_id, dtype=torch.long)
        for i, r in enumerate(rows):                                                  # right-padded (B, T)
            ids[i, :len(r)] = torch.tensor(r, dtype=torch.long)
        lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
        return [float(v) for v in self.model(ids.to(self.device), lengths.to(self.device)).float().cpu()]


    def rendered(self, messages: list[dict], text: str) -> list[int]:
        """Prompt turns + reply as the reward model was trained on them (encode_pair): the reply's text up to its
        end-of-turn mark, and the ids through the reply's <|im_end|>, the token the head reads (not the newline the
        template puts after it)."""
        for mark in END_MARKS:  # a rollout's reply text ends with the decoded stop token; it is not content
            text = text.split(mark, 1)[0]
        ids = self.tok.encode_chat(messages + [{"role": "assistant", "content": text}])[0]
        end = len(ids) - ids[::-1].index(self.tok.im_end_id)
        return ids[:end][-self.max_len:]


def raise_tokenizer_differs(folder: Path) -> None:
    raise UserError(f"stage.reward: the reward model {folder} uses a different tokenizer from the policy",
                    "train the reward model from the same SFT checkpoint (or tokenizer) as the policy",
                    kind="config")


def build_reward_source(spec: str | list[str], tok: Tokenizer, device: torch.device, max_len: int,
                        combine: str = "mean") -> RuleSource | ModelSource | EnsembleSource:
    """The source `stage.reward` names: a folder (a path, or an existing directory) or else a rule's name; a list of
    reward-model folders is an ensemble (reward_ensemble.py), combined by `combine` (stage.reward_combine)."""
    if isinstance(spec, list):
        if len(spec) == 1:
            spec = spec[0]
        else:
            return EnsembleSource([ensemble_member(entry, i, tok, device, max_len) for i, entry in enumerate(spec)],
                                  combine)
    spec = spec.strip()
    if not spec:
        raise UserError("stage.reward: no reward source is set",
                        "set stage.reward to exact_match, numeric_match, format or a reward-model checkpoint folder",
                        kind="config")
    if is_reward_path(spec) or Path(spec).is_dir():
        return ModelSource(spec, tok, device, max_len)
    return RuleSource(get_rule_reward(spec))


def ensemble_member(entry: str, index: int, tok: Tokenizer, device: torch.device, max_len: int) -> ModelSource:
    """One entry of a stage.reward list: a reward-model folder; a rule's name or a missing folder is refused,
    naming its position in the list."""
    entry = str(entry).strip()
    if not (is_reward_path(entry) or Path(entry).is_dir()):
        raise UserError(f"stage.reward[{index}]: {entry!r} is not a reward-model checkpoint folder; a list of "
                        "rewards is an ensemble of reward models", "name a rule alone (stage.reward: exact_match), "
                        "or list only reward-model run folders", kind="config")
    try:
        return ModelSource(entry, tok, device, max_len)
    except UserError as e:
        message = e.message.removeprefix("stage.reward: ")
        raise UserError(f"stage.reward[{index}]: {message}", e.hint, kind=e.kind) from None


def check_answers(source: RuleSource | ModelSource, answers: list[str | None], where: str) -> None:
    """A rule that compares with a reference answer refuses prompts that carry none."""
    if not source.needs_answer:
        return
    missing = [i for i, a in enumerate(answers) if a is None]
    if missing:
        raise UserError(f"{where}: {len(missing)} of {len(answers)} prompts have no \"answer\" (the first is record "
                        f"{missing[0] + 1}), but stage.reward {source.name} compares each reply with one",
                        "add an \"answer\" to every record, or use stage.reward: format or a reward-model "
                        "checkpoint", kind="data")
