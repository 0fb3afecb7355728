"""Data file detection, validation and normalisation (engine.data.formats and engine.data.records)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.data import formats
from engine.data.formats import (
    KINDS,
    BadLine,
    Cancelled,
    FileReport,
    check_bad_share,
    detect_format,
    iter_records,
    preview_records,
    summarize,
    validate_file,
)
from engine.errors import UserError

PRETRAIN_MINIMIND = [
    {"text": "<|im_start|>user\n鉴别一组中文文章的风格和特点。<|im_end|> <|im_start|>assistant\n好的。<|im_end|>"},
    {"text": "预训练的目标是根据前面的 token 预测下一个 token。"},
    {"text": "A language model learns patterns from text by next-token prediction."},
]
SFT_MINIMIND = [
    {
        "conversations": [
            {"role": "user", "content": "MiniMind 是什么？"},
            {"role": "assistant", "content": "MiniMind 是一个小型语言模型教学项目。"},
        ]
    },
    {
        "conversations": [
            {"role": "system", "content": "你是一个简洁的 AI 助手。"},
            {"role": "user", "content": "用一句话解释 tokenizer。"},
            {"role": "assistant", "content": "tokenizer 负责把文本切分并映射成 token id。"},
        ]
    },
]
DPO_MINIMIND = [
    {
        "chosen": [
            {"role": "user", "content": "MiniMind 是什么？"},
            {"role": "assistant", "content": "MiniMind 是一个用于学习大语言模型训练流程的小型开源项目。"},
        ],
        "rejected": [
            {"role": "user", "content": "MiniMind 是什么？"},
            {"role": "assistant", "content": "不知道。"},
        ],
    },
    {
        "chosen": [
            {"role": "user", "content": "用一句话解释 tokenizer。"},
            {"role": "assistant", "content": "tokenizer 把文本映射成 token id。"},
        ],
        "rejected": [
            {"role": "user", "content": "用一句话解释 tokenizer。"},
            {"role": "assistant", "content": "tokenizer 是一个数据库。"},
        ],
    },
]
ALPACA = [
    {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour"},
    {"instruction": "Name a prime number.", "input": "", "output": "7"},
]
PREFERENCE_STRINGS = [{"prompt": "2+2?", "chosen": "4", "rejected": "5"}]
PROMPTS_STRING = [{"prompt": "What is 3+4?", "answer": "7", "task": "arithmetic"}]
PROMPTS_CONVERSATION = [
    {
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Count to 3."}],
        "answer": "1 2 3",
    }
]


def write_jsonl(path: Path, rows: list, extra_lines: dict[int, str] | None = None) -> Path:
    """Write rows as JSON Lines; extra_lines maps a 1-based line number to a raw line inserted there."""
    lines = [json.dumps(row, ensure_ascii=False) for row in rows]
    for line_no, raw in sorted((extra_lines or {}).items()):
        lines.insert(line_no - 1, raw)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def msgs(*pairs: tuple[str, str]) -> list[dict]:
    return [{"role": role, "content": content} for role, content in pairs]


# --- detection ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "kind"),
    [
        (PRETRAIN_MINIMIND, "pretrain"),
        (SFT_MINIMIND, "sft"),
        ([{"messages": SFT_MINIMIND[0]["conversations"]}], "sft"),
        (ALPACA, "sft"),
        (PREFERENCE_STRINGS, "preference"),
        (DPO_MINIMIND, "preference"),
        (PROMPTS_STRING, "rl_prompt"),
        (PROMPTS_CONVERSATION, "rl_prompt"),
    ],
    ids=["pretrain", "sft-conv", "sft-messages", "alpaca", "pref-strings", "pref-messages", "prompt", "prompt-conv"],
)
def test_detects_each_format(tmp_path, rows, kind):
    path = write_jsonl(tmp_path / "data.jsonl", rows)
    assert detect_format(path) == kind
    report = validate_file(path)
    assert (report.kind, report.records, report.ok) == (kind, len(rows), True)


def test_txt_is_pretrain_by_paragraph(tmp_path):
    path = tmp_path / "book.txt"
    path.write_text("First paragraph,\nstill first.\n\nSecond one.\n\n\n第三段。\n", encoding="utf-8")
    assert detect_format(path) == "pretrain"
    assert [r["text"] for r in iter_records(path)] == ["First paragraph,\nstill first.", "Second one.", "第三段。"]
    report = validate_file(path)
    assert (report.records, report.total_lines) == (3, 7)


def test_txt_without_blank_lines_is_one_record_per_line(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("one\ntwo\r\nthree", encoding="utf-8")
    assert [r["text"] for r in iter_records(path)] == ["one", "two", "three"]


def test_txt_refuses_other_kinds(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("one\n", encoding="utf-8")
    with pytest.raises(UserError, match="only be pretrain"):
        validate_file(path, kind="sft")


def test_detection_follows_the_majority(tmp_path):
    rows = SFT_MINIMIND * 5 + [{"conversations": msgs(("user", "unfinished"))}]
    assert detect_format(write_jsonl(tmp_path / "sft.jsonl", rows)) == "sft"


def test_undecidable_file_names_keys_and_shapes(tmp_path):
    path = write_jsonl(tmp_path / "odd.jsonl", [{"question": "q", "reply": "r"}])
    with pytest.raises(UserError) as err:
        detect_format(path)
    assert "odd.jsonl" in err.value.message and "question, reply" in err.value.message
    assert '"conversations"' in err.value.hint and '"chosen"' in err.value.hint


def test_json_array_file_is_undecidable(tmp_path):
    path = tmp_path / "array.json"
    path.write_text('[{"text": "a"},\n {"text": "b"}]\n', encoding="utf-8")
    with pytest.raises(UserError, match="valid JSON") as err:
        detect_format(path)
    assert "JSON Lines" in err.value.hint


def test_unknown_kind_is_rejected(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", PRETRAIN_MINIMIND)
    with pytest.raises(UserError, match="unknown data kind"):
        validate_file(path, kind="rlhf")


# --- bad lines and whole-file problems ------------------------------------------------------------------------------


def test_malformed_json_reported_with_line_number(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", PRETRAIN_MINIMIND, extra_lines={2: '{"text": "unterminated'})
    report = validate_file(path)
    assert report.records == 3 and report.total_lines == 4
    [bad] = report.bad_lines
    assert bad.line == 2 and bad.reason.startswith("malformed JSON") and "column" in bad.reason
    assert str(bad) == f"{path}:2: {bad.reason}"


def test_blank_lines_are_skipped_silently(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", PRETRAIN_MINIMIND, extra_lines={1: "", 3: "   "})
    report = validate_file(path)
    assert (report.records, report.bad_count, report.total_lines) == (3, 0, 5)


@pytest.mark.parametrize(
    ("kind", "row", "reason"),
    [
        ("pretrain", {"content": "x"}, 'missing key "text" (keys found: content)'),
        ("pretrain", {"text": 5}, '"text" must be a string, got a number'),
        ("pretrain", {"text": "  "}, '"text" is empty'),
        ("pretrain", ["text"], "expected a JSON object, got an array"),
        ("sft", {"conversations": msgs(("user", "hi"))}, '"conversations" has no assistant turn'),
        ("sft", {"messages": msgs(("user", "hi"), ("bot", "yo"))}, 'messages[1].role "bot" is not one of'),
        ("sft", {"messages": msgs(("user", "a"), ("system", "s"), ("assistant", "b"))}, "messages[1]: a system turn"),
        ("sft", {"messages": [{"role": "user", "content": None}]}, "messages[0].content must be a string, got null"),
        ("sft", {"messages": [{"role": "user"}]}, 'messages[0] has no "content"'),
        ("sft", {"messages": []}, '"messages" is empty'),
        ("sft", {"instruction": "do", "output": ""}, '"output" is empty'),
        ("sft", {"text": "x"}, 'expected "conversations", "messages", or Alpaca'),
        ("preference", {"prompt": "p", "chosen": "c"}, 'missing key "rejected"'),
        ("preference", {"chosen": "c", "rejected": "r"}, 'missing key "prompt"'),
        ("preference", {"prompt": "p", "chosen": "c", "rejected": []}, "both be strings or both be message lists"),
        (
            "preference",
            {"chosen": msgs(("user", "q"), ("assistant", "a")), "rejected": msgs(("user", "q2"), ("assistant", "b"))},
            "must share a prompt",
        ),
        ("preference", {"chosen": msgs(("user", "q")), "rejected": msgs(("user", "q"))}, "must end with an assistant"),
        ("preference", {"chosen": msgs(("assistant", "a")), "rejected": msgs(("assistant", "b"))}, "needs a user turn"),
        ("rl_prompt", {"messages": msgs(("user", "q"), ("assistant", "a"))}, '"messages" ends with an assistant reply'),
        ("rl_prompt", {"prompt": ""}, '"prompt" is empty'),
        ("rl_prompt", {"answer": "7"}, 'expected "prompt"'),
    ],
)
def test_wrong_schema_is_a_bad_line(tmp_path, kind, row, reason):
    path = write_jsonl(tmp_path / "d.jsonl", [row])
    report = validate_file(path, kind=kind)
    assert report.records == 0 and report.bad_count == 1
    assert report.bad_lines[0].line == 1
    assert reason in report.bad_lines[0].reason


def test_non_utf8_line_is_reported_and_others_still_count(tmp_path):
    path = tmp_path / "mixed.jsonl"
    lines = [json.dumps(row, ensure_ascii=False).encode() for row in PRETRAIN_MINIMIND]
    lines.insert(2, b'{"text": "caf\xe9 latin-1"}')
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert detect_format(path) == "pretrain"
    report = validate_file(path)
    assert report.records == 3
    [bad] = report.bad_lines
    assert bad.line == 3 and "UTF-8" in bad.reason and "0xe9" in bad.reason
    assert len(list(iter_records(path))) == 3


def test_non_utf8_line_in_txt(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"good one\nbad \xff line\ngood two\n")
    report = validate_file(path)
    assert report.records == 2 and [b.line for b in report.bad_lines] == [2]


def test_utf8_bom_is_ignored(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"text": "hi"}).encode() + b"\n")
    assert validate_file(path).ok


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
@pytest.mark.parametrize("name", ["empty.jsonl", "empty.txt"])
def test_empty_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content)
    for call in (detect_format, validate_file, preview_records):
        with pytest.raises(UserError, match="is empty") as err:
            call(path)
        assert err.value.hint


def test_empty_file_with_kind_given(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    with pytest.raises(UserError, match="is empty"):
        validate_file(path, kind="sft")


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.jsonl"
    for call in (detect_format, validate_file, iter_records):
        with pytest.raises(UserError, match="not found") as err:
            call(missing)
        assert str(missing) in str(err.value) and err.value.hint and err.value.kind == "input"


def test_folder_is_not_a_file(tmp_path):
    with pytest.raises(UserError, match="not a file"):
        validate_file(tmp_path)


def test_too_many_bad_lines_raises_quoting_the_first(tmp_path):
    rows = PRETRAIN_MINIMIND * 3
    bad = {2: "not json", 4: '{"text": 1}', 6: "[1, 2]", 8: '{"txt": "x"}', 10: "{", 12: "}", 13: '{"text": ""}'}
    path = write_jsonl(tmp_path / "p.jsonl", rows, extra_lines=bad)
    report = validate_file(path)
    assert (report.records, report.bad_count) == (9, 7)
    with pytest.raises(UserError) as err:
        check_bad_share(report, max_bad_fraction=0.05)
    message = err.value.message
    assert "7 of 16" in message
    assert f"{path}:2: malformed JSON" in message and f"{path}:4:" in message
    assert f"{path}:12:" not in message and "and 2 more" in message
    assert "max_bad_fraction" in err.value.hint
    check_bad_share(report, max_bad_fraction=0.5)


def test_share_check_passes_clean_files_and_stops_all_bad(tmp_path):
    check_bad_share(validate_file(write_jsonl(tmp_path / "ok.jsonl", PRETRAIN_MINIMIND)))
    all_bad = validate_file(write_jsonl(tmp_path / "bad.jsonl", [{"text": 1}]), kind="pretrain")
    with pytest.raises(UserError, match="no valid pretrain records"):
        check_bad_share(all_bad, max_bad_fraction=1.0)


def test_max_bad_lines_keeps_some_but_counts_all(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"text": 1}] * 30 + [{"text": "fine"}])
    report = validate_file(path, max_bad_lines=5)
    assert len(report.bad_lines) == 5 and report.bad_count == 30 and report.records == 1
    assert report.bad_share == pytest.approx(30 / 31)


# --- normalisation ------------------------------------------------------------------------------------------------


def test_normalised_pretrain(tmp_path):
    records = list(iter_records(write_jsonl(tmp_path / "p.jsonl", [{"text": "a", "source": "x"}])))
    assert records == [{"text": "a"}]


def test_normalised_sft(tmp_path):
    rows = [*SFT_MINIMIND, {"messages": msgs(("user", "u"), ("assistant", "a"))}, *ALPACA]
    rows[0] = {
        "conversations": [
            {**SFT_MINIMIND[0]["conversations"][0], "extra": "dropped"},
            SFT_MINIMIND[0]["conversations"][1],
        ]
    }
    records = list(iter_records(write_jsonl(tmp_path / "s.jsonl", rows)))
    assert records[0] == {"messages": SFT_MINIMIND[0]["conversations"]}
    assert [t["role"] for t in records[1]["messages"]] == ["system", "user", "assistant"]
    assert records[2] == {"messages": msgs(("user", "u"), ("assistant", "a"))}
    assert records[3] == {"messages": msgs(("user", "Translate to French.\n\nGood morning"), ("assistant", "Bonjour"))}
    assert records[4] == {"messages": msgs(("user", "Name a prime number."), ("assistant", "7"))}


def test_normalised_preference(tmp_path):
    rows = [
        *PREFERENCE_STRINGS,
        DPO_MINIMIND[0],
        {"prompt": msgs(("system", "s"), ("user", "q")), "chosen": "good", "rejected": "bad"},
        {"prompt": msgs(("user", "q")), "chosen": msgs(("assistant", "good")), "rejected": msgs(("assistant", "bad"))},
    ]
    records = list(iter_records(write_jsonl(tmp_path / "d.jsonl", rows), kind="preference"))
    assert records[0] == {"prompt": msgs(("user", "2+2?")), "chosen": "4", "rejected": "5"}
    assert records[1] == {
        "prompt": msgs(("user", "MiniMind 是什么？")),
        "chosen": "MiniMind 是一个用于学习大语言模型训练流程的小型开源项目。",
        "rejected": "不知道。",
    }
    assert records[2] == {"prompt": msgs(("system", "s"), ("user", "q")), "chosen": "good", "rejected": "bad"}
    assert records[3] == {"prompt": msgs(("user", "q")), "chosen": "good", "rejected": "bad"}


def test_normalised_preference_multi_turn(tmp_path):
    shared = [("system", "s"), ("user", "q1"), ("assistant", "a1"), ("user", "q2")]
    row = {"chosen": msgs(*shared, ("assistant", "yes")), "rejected": msgs(*shared, ("assistant", "no"))}
    [record] = iter_records(write_jsonl(tmp_path / "d.jsonl", [row]))
    assert record == {"prompt": msgs(*shared), "chosen": "yes", "rejected": "no"}


def test_normalised_prompts(tmp_path):
    rows = [*PROMPTS_STRING, *PROMPTS_CONVERSATION]
    records = list(iter_records(write_jsonl(tmp_path / "r.jsonl", rows)))
    assert records[0] == {"messages": msgs(("user", "What is 3+4?")), "answer": "7", "task": "arithmetic"}
    assert records[1] == {"messages": msgs(("system", "Be brief."), ("user", "Count to 3.")), "answer": "1 2 3"}


def test_iter_records_skips_bad_lines(tmp_path):
    path = write_jsonl(tmp_path / "s.jsonl", SFT_MINIMIND, extra_lines={1: "garbage", 3: '{"messages": []}'})
    assert len(list(iter_records(path))) == 2


def test_preview_reads_only_the_start(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"text": f"doc {i}"} for i in range(1000)])
    assert preview_records(path, limit=3) == [{"text": "doc 0"}, {"text": "doc 1"}, {"text": "doc 2"}]
    assert len(preview_records(path)) == 20


# --- counting, progress, cancel, summary ----------------------------------------------------------------------------


def test_chars_and_token_estimate(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"text": "abcd" * 10}, {"text": "中文" * 3}])
    report = validate_file(path)
    assert report.chars == 46
    assert report.est_tokens == round(40 / 4 + 6 / 1.5)


def test_progress_and_cancel(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "CHECK_EVERY_ITEMS", 10)
    path = write_jsonl(tmp_path / "p.jsonl", [{"text": f"doc {i}"} for i in range(100)])
    calls = []
    validate_file(path, progress=lambda done, total: calls.append((done, total)))
    size = path.stat().st_size
    assert len(calls) >= 10 and calls[-1] == (size, size)
    assert all(a[0] <= b[0] for a, b in zip(calls, calls[1:], strict=False))

    asked = []

    def cancel_after_three_checks() -> bool:
        asked.append(1)
        return len(asked) > 3

    with pytest.raises(Cancelled):
        validate_file(path, cancelled=cancel_after_three_checks)
    with pytest.raises(Cancelled):
        validate_file(path, cancelled=lambda: True)


def test_summary_lists_files_totals_and_bad_lines(tmp_path):
    good = validate_file(write_jsonl(tmp_path / "good.jsonl", SFT_MINIMIND))
    bad = validate_file(write_jsonl(tmp_path / "bad.jsonl", PRETRAIN_MINIMIND, extra_lines={2: "{oops"}))
    text = summarize([good, bad])
    assert f"{good.path}: sft, 2 records, 0 bad lines" in text
    assert f"{bad.path}: pretrain, 3 records, 1 bad lines (25.00%)" in text
    assert "total: 5 records" in text
    assert f"{bad.path}:2: malformed JSON" in text
    assert summarize([]) == "No data files checked."


def test_report_dataclasses():
    bad = BadLine("a.jsonl", 7, "why")
    assert str(bad) == "a.jsonl:7: why"
    report = FileReport("a.jsonl", "sft", records=3, bad_lines=[bad], chars=10, est_tokens=3, total_lines=4)
    assert report.bad_count == 1 and not report.ok and report.bad_share == 0.25
    assert KINDS == ("pretrain", "sft", "preference", "rl_prompt")


def test_imports_no_torch_or_numpy():
    code = (
        "import sys; import engine.data.formats; "
        "bad = [m for m in ('torch', 'numpy') if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
