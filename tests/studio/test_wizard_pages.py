"""Wizard validation: an invalid field blocks Next with the reason beside it; data files are scanned off the UI
thread (format, bad lines, preview, cancel); the Review page validates edited YAML."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from studio.engine_cmd import EngineCommand
from studio.views.wizard import TrainWizard


@pytest.fixture
def wizard(qtbot, tmp_path):
    w = TrainWizard(EngineCommand(workspace=tmp_path / "ws"))
    qtbot.addWidget(w)
    w.show()
    return w


def test_invalid_field_blocks_next_with_reason(qtbot, wizard):
    wizard.go_to(2)
    heads = wizard.stage.groups["model"].fields["model.n_head"]
    heads.set_value(3)
    assert not wizard.next.isEnabled()
    assert heads.error.isVisible() and "do not divide" in heads.error.text()
    assert "n_head" in wizard.why.text()
    heads.set_value(4)
    assert wizard.next.isEnabled() and not heads.error.isVisible() and wizard.why.text() == ""
    lr = wizard.stage.groups["optim"].fields["optim.lr"]
    lr.widget.setText("fast")
    assert not wizard.next.isEnabled() and "not a number" in wizard.why.text()
    lr.widget.setText("-1")
    assert not wizard.next.isEnabled() and "must be positive" in lr.error.text()


def test_every_field_has_a_tooltip(wizard):
    for group in wizard.stage.groups.values():
        for key, f in group.fields.items():
            assert key in f.widget.toolTip() and len(f.widget.toolTip()) > len(key) + 12


def test_data_files_scanned_with_bad_lines_and_kind(qtbot, wizard, tmp_path):
    good = tmp_path / "chat.jsonl"
    good.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"hi {i}"},
                                                     {"role": "assistant", "content": "hello"}]}) + "\n"
                            for i in range(50)))
    bad = tmp_path / "text.jsonl"
    bad.write_text("".join(json.dumps({"text": f"line {i}"}) + "\n" for i in range(20)) + "{oops\n" * 5)
    page = wizard.data
    page.builtin.setChecked(False)
    page.add_files([str(bad)])
    qtbot.waitUntil(lambda: str(bad) in page.results and page._worker is None, timeout=10_000)
    assert not wizard.next.isEnabled() and "bad" in wizard.why.text()
    page.files.setCurrentRow(0)
    assert "text.jsonl:21" in page.summary.text()
    page.files.setCurrentRow(0)
    page._on_remove_clicked()
    page.add_files([str(good)])
    qtbot.waitUntil(lambda: str(good) in page.results and page._worker is None, timeout=10_000)
    assert wizard.next.isEnabled(), wizard.why.text()
    assert page.results[str(good)]["kind"] == "sft"
    assert "assistant" in page.preview.toPlainText()
    assert wizard.doc.get("data.train") == [str(good)]
    qtbot.mouseClick(wizard.next, Qt.MouseButton.LeftButton)
    wizard.go_to(2)                      # the pretrain stage cannot train on SFT conversations
    assert "needs pretrain data" in (wizard.stage.reason() or "")
    wizard.stage.top.fields["stage.name"].set_value("sft")
    assert wizard.stage.reason() is None


def test_scan_can_be_cancelled(qtbot, wizard, tmp_path):
    big = tmp_path / "big.jsonl"
    big.write_text(json.dumps({"text": "x" * 40}) * 0 + "".join(json.dumps({"text": f"{i} " * 8}) + "\n"
                                                                 for i in range(400_000)))
    page = wizard.data
    page.add_files([str(big)])
    assert page.progress.isVisible() and page.cancel.isVisible()
    qtbot.mouseClick(page.cancel, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page._worker is None, timeout=20_000)
    assert page.results[str(big)].get("cancelled") or page.results[str(big)].get("report")
    if page.results[str(big)].get("cancelled"):
        assert "cancelled" in wizard.why.text()


def test_review_validates_yaml_and_copies_cli(qtbot, wizard):
    wizard.go_to(4)
    review = wizard.review
    assert "model:" in review.text() and review.launch.isEnabled()
    review.editor.setPlainText(review.text().replace("n_head: 4", "n_head: 3"))
    qtbot.waitUntil(lambda: not review.launch.isEnabled(), timeout=3000)
    assert "n_head" in review.state.text()
    review.editor.setPlainText("model: [unclosed")
    qtbot.waitUntil(lambda: "invalid YAML" in review.state.text(), timeout=3000)
    review.editor.setPlainText("run:\n  max_steps: 5\n")
    qtbot.waitUntil(lambda: review.launch.isEnabled(), timeout=3000)
    review.copy.click()
    from PySide6.QtGui import QGuiApplication
    assert QGuiApplication.clipboard().text().startswith("minigpt --workspace")
    with qtbot.waitSignal(wizard.launch_requested) as blocker:
        review.launch.click()
    assert "max_steps: 5" in blocker.args[0]


def test_adding_a_file_unchecks_the_built_in_dataset(qtbot, wizard, tmp_path):
    """The engine trains on the built-in set or on files, never both ('builtin' cannot be mixed with files)."""
    text = tmp_path / "text.jsonl"
    text.write_text("".join(json.dumps({"text": f"line {i}"}) + "\n" for i in range(20)))
    page = wizard.data
    assert page.builtin.isChecked()
    page.add_files([str(text)])
    qtbot.waitUntil(lambda: str(text) in page.results and page._worker is None, timeout=10_000)
    assert not page.builtin.isChecked() and wizard.doc.get("data.train") == [str(text)]
    page.builtin.setChecked(True)                                   # checked again by hand: refused, with the way out
    assert "cannot be mixed" in (page.reason() or "")
