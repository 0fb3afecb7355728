"""Preference records from A/B chat: the DPO fields, ties marked, a longer chat kept as the prompt, one file per
UTC day appended to, and lines the engine's preference reader accepts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from engine.data import formats
from studio.models.preferences import (
    Side,
    append_preference,
    list_preference_files,
    preference_file,
    preference_record,
)

A = Side("/ws/runs/a/checkpoints/step-000010", {"temperature": 0.7}, "Four.", {"completion_tokens": 2})
B = Side("/ws/runs/b/checkpoints/step-000020", {"temperature": 1.2}, "It is 4.")
DAY = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)


def test_record_fields_and_ties():
    user = [{"role": "user", "content": "What is 2 + 2?"}]
    rec = preference_record(user, A, B, "b", DAY)
    assert (rec["prompt"], rec["chosen"], rec["rejected"], rec["tie"]) == ("What is 2 + 2?", "It is 4.", "Four.", False)
    assert rec["chosen_source"]["checkpoint"] == B.checkpoint and rec["rejected_source"]["params"] == A.params
    assert rec["a"]["stats"] == {"completion_tokens": 2} and rec["time"] == "2026-11-30T23:59:00+00:00"
    tie = preference_record(user, A, B, "tie", DAY)
    assert tie["tie"] is True and (tie["chosen"], tie["rejected"]) == ("Four.", "It is 4.")
    with pytest.raises(ValueError, match="winner"):
        preference_record(user, A, B, "both", DAY)
    with pytest.raises(ValueError, match="user turn"):
        preference_record(user + [{"role": "assistant", "content": "x"}], A, B, "a", DAY)


def test_longer_chat_is_the_prompt():
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "2 + 2?"}]
    rec = preference_record(chat, A, B, "a", DAY)
    assert rec["prompt"] == chat and rec["messages"] == chat


def test_appended_per_day_and_readable_as_preference_data(tmp_path):
    user = [{"role": "user", "content": "你好"}]
    chat = user + [{"role": "assistant", "content": "Hello"}, {"role": "user", "content": "2 + 2?"}]
    path = append_preference(tmp_path, preference_record(user, A, B, "a", DAY))
    assert path == preference_file(tmp_path, DAY) == tmp_path / "data" / "preferences" / "ab-20261130.jsonl"
    assert append_preference(tmp_path, preference_record(chat, A, B, "tie", DAY)) == path
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["prompt"] == "你好"
    assert formats.detect_format(path) == "preference"
    report = formats.validate_file(path, kind="preference")
    assert (report.records, report.bad_count) == (2, 0)
    later = append_preference(tmp_path, preference_record(user, A, B, "b", datetime(2026, 12, 1, tzinfo=UTC)))
    assert list_preference_files(tmp_path) == [later, path]          # newest first
    assert list_preference_files(tmp_path / "nowhere") == []
