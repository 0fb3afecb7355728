"""Data page and Tokenizer page, driven through the real widgets and the real engine: a GB18030 file is reported
with its likely encoding and read once the encoding is chosen; the token preview shows the engine's pieces, so a
Chinese character split over several byte-level tokens appears once."""

from __future__ import annotations

import json
import os

import pytest

from studio.engine_cmd import EngineCommand
from studio.views.wizard import TrainWizard

SHOTS = os.environ.get("MINIGPT_TEST_SCREENSHOTS", "")  # a folder to save the pages' screenshots into, if set


@pytest.fixture
def wizard(qtbot, tmp_path):
    w = TrainWizard(EngineCommand(workspace=tmp_path / "ws"))
    qtbot.addWidget(w)
    w.resize(1100, 760)
    w.show()
    return w


def shoot(widget, name: str) -> None:
    if SHOTS:
        widget.grab().save(os.path.join(SHOTS, name))


def test_gb18030_file_names_its_encoding_then_reads_once_chosen(qtbot, wizard, tmp_path):
    rows = [{"text": f"今天天气很好，我们去公园散步吧。第{i}段，北京是中国的首都。"} for i in range(30)]
    path = tmp_path / "中文.jsonl"
    path.write_bytes("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("gb18030"))
    page = wizard.data
    page.builtin.setChecked(False)
    page.add_files([str(path)])
    qtbot.waitUntil(lambda: str(path) in page.results and page._worker is None, timeout=20_000)
    page.files.setCurrentRow(0)
    error = page.summary.text()
    assert "line 1" in error and "GB18030" in error and "iconv -f GB18030 -t UTF-8" in error, error
    assert "valid JSON" not in error
    assert not wizard.next.isEnabled() and "GB18030" in wizard.why.text()
    shoot(wizard, "data-gb18030-utf8.png")

    page.encoding.setCurrentText("gb18030")
    qtbot.waitUntil(lambda: "kind" in page.results.get(str(path), {}) and page._worker is None, timeout=20_000)
    assert page.results[str(path)]["report"].records == len(rows)
    assert wizard.doc.get("data.encoding") == "gb18030"
    assert wizard.next.isEnabled(), wizard.why.text()
    page.files.setCurrentRow(0)
    assert rows[0]["text"] in page.preview.toPlainText()
    shoot(wizard, "data-gb18030-read.png")


def test_token_preview_shows_each_chinese_character_once(qtbot, wizard, tmp_path):
    from engine.tokenizer import train_tokenizer
    from studio.views.page_tokenizer import SAMPLES

    # Too small a vocabulary for Chinese: every character of the sample is two or three byte-level tokens.
    tok = train_tokenizer(["plain english words for a small vocabulary"] * 50, vocab_size=300, min_frequency=1)
    file = tok.save(tmp_path / "tok")
    page = wizard.tokenizer
    wizard.go_to(1)
    page.existing.setChecked(True)
    page.known.setEditText(str(file))
    qtbot.waitUntil(lambda: "Vocabulary" in page.preview.toPlainText(), timeout=60_000)
    shown = page.preview.toPlainText()
    chinese = SAMPLES["Chinese"]
    assert chinese in shown, shown  # the pieces join back to the sentence: no character repeated
    assert "公公" not in shown and "步步" not in shown
    assert f"({len(tok.encode(chinese))} tokens)" in shown
    assert SAMPLES["English"].replace(" ", "\xa0") in shown or SAMPLES["English"] in shown
    shoot(wizard, "tokenizer-preview-chinese.png")


def test_tokenizer_trained_now_reads_the_data_pages_encoding(qtbot, wizard, tmp_path):
    rows = [{"text": f"今天天气很好，我们去公园散步吧。第{i}段。"} for i in range(60)]
    path = tmp_path / "gb.jsonl"
    path.write_bytes("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("gb18030"))
    page = wizard.data
    page.builtin.setChecked(False)
    page.encoding.setCurrentText("gb18030")
    page.add_files([str(path)])
    qtbot.waitUntil(lambda: "kind" in page.results.get(str(path), {}) and page._worker is None, timeout=20_000)
    wizard.go_to(1)
    tok_page = wizard.tokenizer
    tok_page.train_now.setChecked(True)
    tok_page.fields.fields["tokenizer.vocab_size"].set_value(400)
    tok_page.train_button.click()
    qtbot.waitUntil(lambda: tok_page.job is None, timeout=120_000)
    assert tok_page.status.text().startswith("Trained:"), tok_page.status.text()
    qtbot.waitUntil(lambda: "Vocabulary" in tok_page.preview.toPlainText(), timeout=60_000)
    assert "今天天气很好，我们去公园散步吧。" in tok_page.preview.toPlainText()
