"""Review checks the paths of a run before Launch (data, val, tokenizer, init checkpoint) and names the key at
fault; a data file that disappears after the Data page checked it is caught there, not after Launch."""

from __future__ import annotations

import html
import json

import pytest

from studio.engine_cmd import EngineCommand
from studio.views.wizard import TrainWizard


@pytest.fixture
def wizard(qtbot, tmp_path):
    w = TrainWizard(EngineCommand(workspace=tmp_path / "ws"))
    qtbot.addWidget(w)
    w.show()
    return w


def set_yaml(qtbot, review, old: str, new: str) -> None:
    text = review.text()
    assert old in text, text
    review.editor.setPlainText(text.replace(old, new, 1))
    review._validate()          # what the 250 ms typing timer does


def test_missing_data_file_found_by_review_not_launch(qtbot, wizard, tmp_path):
    data = tmp_path / "notes.jsonl"
    data.write_text("".join(json.dumps({"text": f"line {i} of my notes"}) + "\n" for i in range(40)))
    page = wizard.data
    page.builtin.setChecked(False)
    page.add_files([str(data)])
    qtbot.waitUntil(lambda: str(data) in page.results and page._worker is None, timeout=20_000)
    data.unlink()                                   # gone between the Data page and Launch
    wizard.go_to(4)
    review = wizard.review
    assert not review.launch.isEnabled()
    assert "data.train" in review.state.text() and "notes.jsonl does not exist" in review.state.text()
    assert "Valid run configuration" not in review.state.text()
    with qtbot.assertNotEmitted(wizard.launch_requested):
        review.launch.click()
    data.write_text(json.dumps({"text": "back again"}) + "\n")
    review._validate()
    assert review.launch.isEnabled() and "Valid run configuration" in review.state.text()


def test_val_tokenizer_and_init_paths_name_their_key(qtbot, wizard, tmp_path):
    wizard.go_to(4)
    review = wizard.review
    assert review.launch.isEnabled(), review.state.text()
    set_yaml(qtbot, review, "  val: []", f"  val: [{tmp_path / 'val.jsonl'}]")
    assert "data.val" in review.state.text() and "val.jsonl does not exist" in review.state.text()
    (tmp_path / "folder.jsonl").mkdir()
    set_yaml(qtbot, review, f"{tmp_path / 'val.jsonl'}", str(tmp_path / "folder.jsonl"))
    assert "is a folder, not a data file" in review.state.text()
    set_yaml(qtbot, review, f"  val: [{tmp_path / 'folder.jsonl'}]", "  val: []")
    assert review.launch.isEnabled(), review.state.text()

    empty = tmp_path / "tok"
    empty.mkdir()
    set_yaml(qtbot, review, "  path: null", f"  path: {empty}")
    assert "tokenizer.path" in review.state.text() and "has no tokenizer.json" in review.state.text()
    assert not review.launch.isEnabled()
    set_yaml(qtbot, review, f"  path: {empty}", "  path: null")

    set_yaml(qtbot, review, "  init: null", f"  init: {tmp_path / 'nowhere'}")
    assert "stage.init" in review.state.text() and "does not exist" in review.state.text()
    set_yaml(qtbot, review, f"  init: {tmp_path / 'nowhere'}", f"  init: {empty}")
    assert "stage.init" in review.state.text() and "holds no checkpoint" in review.state.text()
    step = tmp_path / "run" / "checkpoints" / "step-000010"
    step.mkdir(parents=True)
    (step / "model.safetensors").write_bytes(b"x")
    (step / "config.json").write_text("{}")
    (tmp_path / "run" / "checkpoints" / "latest").write_text("step-000010")
    set_yaml(qtbot, review, f"  init: {empty}", f"  init: {tmp_path / 'run'}")
    assert "stage.init" not in review.state.text(), review.state.text()


def test_relative_path_is_read_from_the_config_folder(qtbot, wizard):
    wizard.go_to(4)
    review = wizard.review
    set_yaml(qtbot, review, "  - builtin", "  - mine.jsonl")
    state = html.unescape(review.state.text())
    assert "data.train" in state and "mine.jsonl does not exist" in state and "config's folder" in state
