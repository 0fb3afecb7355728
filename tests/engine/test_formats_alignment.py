"""Data for the alignment stages: `preference` pairs and `rl_prompt` records (minimind's DPO and RLAIF lines too),
their per-line reasons with file:line, `minigpt data check` naming both kinds, and the built-in files for them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.data import builtin
from engine.data.builtin import FILE_STEMS, check_answer
from engine.data.formats import detect_format, iter_records, validate_file

ROOT = Path(__file__).resolve().parents[2]


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def turns(*pairs: tuple[str, str]) -> list[dict]:
    return [{"role": role, "content": content} for role, content in pairs]


# minimind's RLAIF shape: the user's question, then an assistant turn holding "空" ("empty") for the policy to fill
RLAIF_MINIMIND = [
    {"conversations": turns(("user", "请用一句话介绍长城。"), ("assistant", "空"))},
    {"conversations": turns(("system", "你是一个助手。"), ("user", "What is 12 + 30?"), ("assistant", ""))},
    {"conversations": turns(("user", "Name a colour."), ("assistant", "空")), "answer": "red"},
]
DPO_MINIMIND = [
    {"chosen": turns(("user", "MiniMind 是什么？"), ("assistant", "一个小型语言模型教学项目。")),
     "rejected": turns(("user", "MiniMind 是什么？"), ("assistant", "不知道。"))},
]


@pytest.mark.parametrize(
    ("rows", "kind"),
    [
        (RLAIF_MINIMIND, "rl_prompt"),
        ([{"prompt": "What is 3 + 4?", "answer": "7"}], "rl_prompt"),
        ([{"messages": turns(("user", "Count to 3."))}], "rl_prompt"),
        (DPO_MINIMIND, "preference"),
        ([{"prompt": "2+2?", "chosen": "4", "rejected": "5"}], "preference"),
    ],
    ids=["rlaif-minimind", "prompt-answer", "conversation-ending-with-user", "dpo-minimind", "dpo-strings"],
)
def test_alignment_kinds_are_detected(tmp_path: Path, rows: list, kind: str) -> None:
    assert detect_format(write_jsonl(tmp_path / "d.jsonl", rows)) == kind


def test_rlaif_placeholder_is_dropped_and_the_answer_kept(tmp_path: Path) -> None:
    rows = [*RLAIF_MINIMIND, {"prompt": "What is 40 + 45?", "answer": 85, "task": "add"}]
    records = list(iter_records(write_jsonl(tmp_path / "rl.jsonl", rows)))
    assert records == [
        {"messages": turns(("user", "请用一句话介绍长城。"))},
        {"messages": turns(("system", "你是一个助手。"), ("user", "What is 12 + 30?"))},
        {"messages": turns(("user", "Name a colour.")), "answer": "red"},
        {"messages": turns(("user", "What is 40 + 45?")), "answer": "85", "task": "add"},  # a number read as text
    ]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"conversations": turns(("user", "q"), ("assistant", "a real reply"))},
         '"conversations" ends with an assistant reply; an RL prompt ends with the user\'s turn'),
        ({"prompt": "q", "answer": ""}, '"answer" must be a non-empty string or a number, got ""'),
        ({"prompt": "q", "answer": ["7"]}, '"answer" must be a non-empty string or a number, got ["7"]'),
        ({"conversations": turns(("assistant", "空"))}, '"conversations" is empty'),
    ],
    ids=["real-reply", "empty-answer", "list-answer", "placeholder-only"],
)
def test_bad_rl_prompt_lines_name_the_reason(tmp_path: Path, row: dict, reason: str) -> None:
    path = write_jsonl(tmp_path / "rl.jsonl", [{"prompt": "fine"}, row])
    report = validate_file(path, kind="rl_prompt")
    assert report.records == 1 and report.bad_count == 1
    assert str(report.bad_lines[0]).startswith(f"{path}:2: {reason}")


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"prompt": "2+2?", "chosen": "4", "rejected": " "}, '"rejected" is empty'),
        ({"prompt": "2+2?", "chosen": "", "rejected": "5"}, '"chosen" is empty'),
        ({"chosen": turns(("user", "q"), ("assistant", "")), "rejected": turns(("user", "q"), ("assistant", "b"))},
         "chosen[1].content is empty"),
        ({"chosen": [], "rejected": turns(("user", "q"), ("assistant", "b"))}, '"chosen" is empty'),
        ({"prompt": "2+2?", "chosen": "4", "rejected": "4 "},
         '"chosen" and "rejected" are the same reply, so there is nothing to prefer'),
        ({"chosen": turns(("user", "q"), ("assistant", "same")),
          "rejected": turns(("user", "q"), ("assistant", "same"))},
         '"chosen" and "rejected" are the same reply'),
        ({"chosen": turns(("user", "q1"), ("assistant", "a")), "rejected": turns(("user", "q2"), ("assistant", "b"))},
         '"chosen" and "rejected" must share a prompt (every turn before the final assistant turn), '
         "but chosen[0] and rejected[0] differ"),
        ({"chosen": turns(("system", "s"), ("user", "q"), ("assistant", "a")),
          "rejected": turns(("user", "q"), ("assistant", "b"))},
         "but chosen[0] and rejected[0] differ"),
        ({"chosen": turns(("user", "q"), ("assistant", "x"), ("user", "q"), ("assistant", "a")),
          "rejected": turns(("user", "q"), ("assistant", "b"))},
         'but "chosen" has 3 such turns and "rejected" has 1'),
    ],
    ids=["empty-rejected", "empty-chosen", "empty-final-turn", "empty-list", "identical-strings",
         "identical-turns", "different-prompt", "system-only-on-one-side", "different-turn-count"],
)
def test_bad_preference_lines_name_file_line_and_reason(tmp_path: Path, row: dict, reason: str) -> None:
    path = write_jsonl(tmp_path / "pref.jsonl", [*DPO_MINIMIND, row, *DPO_MINIMIND])
    report = validate_file(path, kind="preference")
    assert report.records == 2 and report.bad_count == 1
    assert report.bad_lines[0].line == 2
    assert f"{path}:2: " in str(report.bad_lines[0]) and reason in report.bad_lines[0].reason


def test_data_check_names_preference_and_rl_prompt(tmp_path: Path) -> None:
    pref = write_jsonl(tmp_path / "pairs.jsonl", [*DPO_MINIMIND, {"prompt": "2+2?", "chosen": "4", "rejected": "4"}])
    rl = write_jsonl(tmp_path / "rlaif.jsonl", RLAIF_MINIMIND)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "engine.cli", "data", "check", str(pref), str(rl)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert f"{pref}: preference, 1 records, 1 bad lines" in out.stdout
    assert f"{rl}: rl_prompt, 3 records, 0 bad lines" in out.stdout
    assert f"{pref}:2: \"chosen\" and \"rejected\" are the same reply" in out.stdout
    assert out.returncode == 2  # a bad line makes the check fail


# ---------------------------------------------------------------- the built-in files for these kinds
@pytest.fixture
def task_draws(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The held_out flag of every task instance the built-in generator draws while the test runs."""
    draws: list[bool] = []
    real = builtin.sample_task

    def spy(rng, family, lang, held_out):
        draws.append(held_out)
        return real(rng, family, lang, held_out)

    monkeypatch.setattr(builtin, "sample_task", spy)
    monkeypatch.setattr(builtin, "RECORD_COUNTS", {**builtin.RECORD_COUNTS, "preference_train": 400,
                                                   "rl_prompt_train": 400, "reward_train": 400})
    return draws


@pytest.mark.parametrize("stem", ["preference_train", "rl_prompt_train", "reward_train"])
def test_built_in_training_pairs_and_prompts_come_from_the_training_side(task_draws: list[bool], stem: str) -> None:
    records = builtin._records(stem, seed=0)
    # preference: 65% tasks, rl_prompt: all tasks, reward: preference_train's 400 and 400 near misses
    assert len(records) == (800 if stem == "reward_train" else 400) and len(task_draws) > 200
    assert not any(task_draws), "a training file drew a held-out task instance"


def test_built_in_rl_prompts_carry_their_answer(tmp_path: Path) -> None:
    assert {"rl_prompt_train", "rl_prompt_val", "preference_train", "preference_val"} <= set(FILE_STEMS)
    assert not any(stem.startswith("prompts") for stem in FILE_STEMS)
    rows = builtin._records("rl_prompt_train", seed=0)[:300]
    path = write_jsonl(tmp_path / "rl_prompt_train.jsonl", rows)
    assert detect_format(path) == "rl_prompt"
    records = list(iter_records(path))
    assert len(records) == len(rows)
    for record in records:
        assert isinstance(record["answer"], str) and record["answer"].strip()
        assert check_answer(record["answer"], record["answer"])  # the reference passes the tasks' own rule


def test_built_in_preference_files_validate_cleanly(tmp_path: Path) -> None:
    for stem in ("preference_train", "preference_val"):
        path = write_jsonl(tmp_path / f"{stem}.jsonl", builtin._records(stem, seed=0))
        report = validate_file(path)
        assert report.kind == "preference" and report.ok, report.bad_lines[:3]


def test_a_tie_from_the_studios_ab_chat_is_kept_for_the_stage_to_skip(tmp_path: Path) -> None:
    rows = [{"prompt": "2+2?", "chosen": "Four.", "rejected": "It is 4.", "tie": True, "winner": "tie"},
            {"prompt": "2+2?", "chosen": "4", "rejected": "5", "tie": False, "winner": "a"}]
    assert list(iter_records(write_jsonl(tmp_path / "ab.jsonl", rows))) == [
        {"prompt": turns(("user", "2+2?")), "chosen": "Four.", "rejected": "It is 4.", "tie": True},
        {"prompt": turns(("user", "2+2?")), "chosen": "4", "rejected": "5"},
    ]
