"""Rule rewards: the registry, its error for an unknown name, and agreement with the built-in tasks' accuracy rule."""

from __future__ import annotations

import random

import pytest

from engine.data.builtin_tasks import LANGS, TASK_FAMILIES, sample_task, wrong_answer
from engine.errors import UserError
from engine.evaluate import accuracy_of
from engine.train import rewards
from engine.train.rewards import RULE_REWARDS, get_rule_reward, rule_reward


def test_the_three_built_in_rules_are_registered() -> None:
    assert {"exact_match", "numeric_match", "format"} <= set(RULE_REWARDS)
    assert get_rule_reward("format").needs_answer is False and get_rule_reward("exact_match").needs_answer is True


def test_exact_match_agrees_with_task_accuracy_on_built_in_tasks() -> None:
    rng = random.Random(7)
    exact = get_rule_reward("exact_match")
    seen = {0.0: 0, 1.0: 0}
    for family in TASK_FAMILIES:
        for lang in LANGS:
            for _ in range(6):
                item = sample_task(rng, family, lang, held_out=False)
                stop = "。" if lang == "zh" else "."
                for completion in (item.answer, f" {item.answer}{stop}\nand more", f"{item.answer}<|im_end|>",
                                   wrong_answer(rng, item), f"The answer is {item.answer}", "", "\n" + item.answer):
                    task = {"task": family, "prompt": item.prompt, "answer": item.answer}
                    judged = accuracy_of([task], [completion])["accuracy"]
                    reward = exact(completion, item.answer)
                    assert reward == judged, (family, completion, item.answer)
                    seen[reward] += 1
    assert seen[0.0] > 100 and seen[1.0] > 100  # both outcomes were exercised


def test_numeric_match_compares_numbers_not_strings() -> None:
    numeric = get_rule_reward("numeric_match")
    assert numeric("85", "85") == 1.0
    assert numeric("47 + 38 = 85.", "85") == 1.0         # the last number on the answer line
    assert numeric("85.0", "85") == 1.0 and numeric("1,000", "1000") == 1.0
    assert numeric("-3", "-3") == 1.0 and numeric("3", "-3") == 0.0
    assert numeric("84\n85", "85") == 0.0                # only the first line is the answer
    assert numeric("no idea", "85") == 0.0 and numeric("85", "eighty-five") == 0.0
    assert get_rule_reward("exact_match")("85.0", "85") == 0.0  # where exact and numeric differ


def test_format_rewards_one_non_empty_line() -> None:
    fmt = get_rule_reward("format")
    assert fmt("85", None) == 1.0 and fmt(" 85 <|im_end|>\n", None) == 1.0
    assert fmt("85\nand then some", None) == 0.0 and fmt("   ", None) == 0.0 and fmt("<|im_end|>", None) == 0.0


def test_a_rule_that_needs_an_answer_refuses_a_record_without_one() -> None:
    with pytest.raises(ValueError, match="needs a reference answer"):
        get_rule_reward("exact_match")("85", None)


def test_unknown_name_names_the_key_and_lists_the_rules() -> None:
    with pytest.raises(UserError) as err:
        get_rule_reward("exact_mtach")
    assert "stage.reward" in str(err.value) and "exact_mtach" in str(err.value)
    for name in ("exact_match", "numeric_match", "format"):
        assert name in err.value.hint
    assert err.value.kind == "config"


def test_a_user_adds_a_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rewards, "RULE_REWARDS", dict(RULE_REWARDS))

    @rule_reward("short", needs_answer=False)
    def short(completion: str, answer: str | None) -> float:
        """Shorter replies score higher."""
        return 1.0 / (1 + len(completion))

    rule = get_rule_reward("short")
    assert rule("abc", None) == 0.25 and rule.description == "Shorter replies score higher."
    with pytest.raises(ValueError, match="already registered"):
        rule_reward("short")(short)
