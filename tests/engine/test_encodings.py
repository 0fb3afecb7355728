"""engine.data.encoding through formats.py: non-UTF-8 files (GB18030, cp1252) are named with the line, the likely
encoding and an iconv command, and are read as they are with data.encoding (a codec name, or auto)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import ConfigError, DataConfig
from engine.data import formats
from engine.data.encoding import check_encoding, guess_encoding
from engine.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
CHINESE = [{"text": f"今天天气很好，我们去公园散步吧。第{i}段：北京是中国的首都，预训练的目标是预测下一个字。"}
           for i in range(40)]
WESTERN = [{"text": f"Café crème brûlée, naïve façade — déjà vu #{i}. Señor’s “quotes” and œuvres."} for i in range(40)]


def write(path: Path, rows: list[dict], encoding: str) -> Path:
    path.write_bytes("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode(encoding))
    return path


@pytest.mark.parametrize(("rows", "encoding", "named"),
                         [(CHINESE, "gb18030", "GB18030"), (WESTERN, "cp1252", "CP1252")])
def test_non_utf8_file_names_line_encoding_and_conversion(tmp_path, rows, encoding, named):
    path = write(tmp_path / "data.jsonl", rows, encoding)
    with pytest.raises(UserError) as e:
        formats.detect_format(path)
    message = str(e.value)
    assert f"{path}: line 1: not valid UTF-8" in message
    assert f"looks like {named} text" in message
    assert f"data.encoding: {encoding}" in message
    assert f"iconv -f {named} -t UTF-8 {path} > {tmp_path / 'data.utf8.jsonl'}" in message
    assert "valid JSON" not in message  # the old, misleading reason
    assert "data.encoding" in e.value.hint


@pytest.mark.parametrize(("rows", "encoding"), [(CHINESE, "gb18030"), (WESTERN, "cp1252")])
@pytest.mark.parametrize("setting", ["named", "auto"])
def test_non_utf8_file_is_read_as_it_is_with_data_encoding(tmp_path, rows, encoding, setting):
    path = write(tmp_path / "data.jsonl", rows, encoding)
    chosen = encoding if setting == "named" else "auto"
    assert formats.detect_format(path, encoding=chosen) == "pretrain"
    report = formats.validate_file(path, encoding=chosen)
    assert report.records == len(rows) and report.ok
    assert formats.preview_records(path, 2, encoding=chosen) == rows[:2]


def test_gbk_subset_is_guessed_as_gb18030(tmp_path):
    path = write(tmp_path / "gbk.jsonl", CHINESE, "gbk")
    assert guess_encoding(str(path)) == "gb18030"


def test_utf8_and_ascii_files_are_guessed_as_utf8(tmp_path):
    assert guess_encoding(str(write(tmp_path / "a.jsonl", [{"text": "plain"}], "ascii"))) == "utf-8"
    assert guess_encoding(str(write(tmp_path / "u.jsonl", CHINESE, "utf-8"))) == "utf-8"


def test_one_damaged_line_in_a_utf8_file_stays_a_bad_line(tmp_path):
    path = write(tmp_path / "mixed.jsonl", CHINESE, "utf-8")
    with open(path, "ab") as f:
        f.write(json.dumps({"text": "Café"}, ensure_ascii=False).encode("cp1252") + b"\n")
    report = formats.validate_file(path)
    assert report.records == len(CHINESE) and report.bad_count == 1
    bad = report.bad_lines[0]
    assert bad.line == len(CHINESE) + 1 and "not valid UTF-8" in bad.reason and "0xe9" in bad.reason


def test_txt_in_gb18030_reads_with_encoding(tmp_path):
    path = tmp_path / "book.txt"
    path.write_bytes("第一段，今天天气很好。\n\n第二段，我们去公园散步吧。\n".encode("gb18030"))
    report = formats.validate_file(path)
    assert report.bad_count == 2 and "GB18030" in report.bad_lines[0].reason
    assert [r["text"] for r in formats.iter_records(path, encoding="gb18030")] == ["第一段，今天天气很好。",
                                                                                 "第二段，我们去公园散步吧。"]


@pytest.mark.parametrize(("name", "error"), [("nope-8", "unknown text encoding"), ("utf-16", "line by line")])
def test_bad_encoding_setting_names_the_key(name, error):
    with pytest.raises(ConfigError) as e:
        DataConfig(encoding=name)
    assert "data.encoding" in str(e.value) and error in str(e.value)
    with pytest.raises(UserError, match="--encoding"):
        check_encoding(name, "--encoding")
    assert DataConfig(encoding="GB18030").encoding == "GB18030"


def test_data_check_cli_reads_gb18030_with_encoding(tmp_path):
    path = write(tmp_path / "gb.jsonl", CHINESE, "gb18030")
    cli = [sys.executable, "-m", "engine.cli", "data", "check", str(path)]
    plain = subprocess.run(cli, capture_output=True, text=True, cwd=ROOT)
    assert plain.returncode == 2 and "looks like GB18030" in plain.stderr and "iconv -f GB18030" in plain.stderr
    fixed = subprocess.run([*cli, "--encoding", "gb18030"], capture_output=True, text=True, cwd=ROOT)
    assert fixed.returncode == 0, fixed.stderr
    assert f"{path}: pretrain, {len(CHINESE)} records, 0 bad lines" in fixed.stdout
