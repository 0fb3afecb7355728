"""Rule rewards for PPO and GRPO: named functions (completion text, reference answer or None) -> float, in one registry.

`stage.reward` names one of these (or a reward checkpoint folder, which the stage resolves itself). A user adds a rule
with `@rule_reward("name")`. `exact_match` is the built-in tasks' own answer check (builtin.check_answer), the same
judgement as `task_accuracy`, so a reward of 1.0 is a right answer there. No torch, no model: plain text in, float out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from engine.data.builtin import check_answer, extract_answer
from engine.errors import UserError

RewardFn = Callable[[str, str | None], float]
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
END_MARKS = ("<|im_end|>", "<|endoftext|>")


@dataclass(frozen=True)
class RuleReward:
    """One named rule: `fn(completion, answer)`; `needs_answer` says whether records must carry a reference answer."""

    name: str
    fn: RewardFn
    needs_answer: bool
    description: str

    def __call__(self, completion: str, answer: str | None) -> float:
        if self.needs_answer and answer is None:
            raise ValueError(f"reward {self.name!r} needs a reference answer; this record has none")
        return float(self.fn(completion, answer))


RULE_REWARDS: dict[str, RuleReward] = {}


def rule_reward(name: str, needs_answer: bool = True) -> Callable[[RewardFn], RewardFn]:
    """Register `fn(completion, answer) -> float` under `name` (its docstring's first line describes it)."""
    def register(fn: RewardFn) -> RewardFn:
        if name in RULE_REWARDS:
            raise ValueError(f"a rule reward named {name!r} is already registered")
        description = (fn.__doc__ or name).strip().splitlines()[0]
        RULE_REWARDS[name] = RuleReward(name, fn, needs_answer, description)
        return fn
    return register


def get_rule_reward(name: str) -> RuleReward:
    """The registered rule named `name`; a UserError naming `stage.reward` and every rule when there is none."""
    if name not in RULE_REWARDS:
        raise UserError(
            f"stage.reward: unknown rule reward {name!r}",
            hint=f"Use one of: {', '.join(sorted(RULE_REWARDS))}; or the folder of a reward-model checkpoint.",
            kind="config",
        )
    return RULE_REWARDS[name]


@rule_reward("exact_match")
def exact_match(completion: str, answer: str | None) -> float:
    """1.0 when the reply's answer line equals the reference exactly (the built-in tasks' accuracy rule), else 0.0."""
    return 1.0 if answer is not None and check_answer(answer, completion) else 0.0


@rule_reward("numeric_match")
def numeric_match(completion: str, answer: str | None) -> float:
    """1.0 when the last number on the reply's answer line equals the reference's number, else 0.0."""
    got, want = _last_number(extract_answer(completion)), _last_number(answer or "")
    return 1.0 if got is not None and want is not None and abs(got - want) <= 1e-9 * max(1.0, abs(want)) else 0.0


@rule_reward("format", needs_answer=False)
def format_reward(completion: str, answer: str | None) -> float:
    """1.0 when the reply is one non-empty line (the shape the checkable tasks ask for), else 0.0."""
    text = completion
    for mark in END_MARKS:
        text = text.split(mark, 1)[0]
    text = text.strip()
    return 1.0 if text and "\n" not in text else 0.0


def _last_number(text: str) -> float | None:
    """The last number in `text` ("47 + 38 = 85" -> 85.0), thousands separators allowed ("1,000" -> 1000.0)."""
    numbers = _NUMBER.findall(re.sub(r"(?<=\d),(?=\d{3}\b)", "", text))
    return float(numbers[-1]) if numbers else None
