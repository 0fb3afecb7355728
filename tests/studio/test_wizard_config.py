"""File → Open run config… loads a saved run YAML back into every wizard page (bad YAML names the file and the
line or key), and the wizard's values survive a restart through QSettings."""

from __future__ import annotations

import json

import pytest

from studio import settings
from studio.engine_cmd import EngineCommand
from studio.views.main_window import MainWindow
from studio.views.wizard import TrainWizard


@pytest.fixture
def make_wizard(qtbot, tmp_path):
    def make(remember: bool = False) -> TrainWizard:
        w = TrainWizard(EngineCommand(workspace=tmp_path / "ws"), remember=remember)
        qtbot.addWidget(w)
        w.show()
        return w
    return make


@pytest.fixture
def own_settings(tmp_path):
    settings.use_settings_dir(tmp_path / "settings")
    yield
    settings.settings().remove("wizard/last_document")


def field(wizard, key):
    for group in (wizard.stage.top, *wizard.stage.groups.values(), wizard.hardware.fields, wizard.tokenizer.fields):
        if key in group.fields:
            return group.fields[key]
    raise KeyError(key)


def test_saved_config_opens_into_every_page(qtbot, make_wizard, tmp_path):
    data = tmp_path / "data" / "chat.jsonl"
    data.parent.mkdir()
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"hi {i}"},
                                                     {"role": "assistant", "content": "hello"}]}) + "\n"
                            for i in range(30)))
    first = make_wizard()
    for key, value in (("stage.name", "sft"), ("model.n_layer", 3), ("run.max_steps", 77), ("optim.lr", 0.0007),
                       ("tokenizer.vocab_size", 1500), ("hardware.device", "cpu")):
        field(first, key).set_value(value)
    first.go_to(4)
    saved = tmp_path / "configs" / "mine.yaml"
    saved.parent.mkdir()
    text = first.review.text().replace("  - builtin", "  - ../data/chat.jsonl")   # relative to the YAML's folder
    saved.write_text(text)

    second = make_wizard()
    assert field(second, "run.max_steps").value() == 1000
    assert second.open_config(str(saved)) is None
    assert second.index == 4
    assert second.doc.get("data.train") == [str(data)]
    assert not second.data.builtin.isChecked() and second.data.sources() == [str(data)]
    qtbot.waitUntil(lambda: str(data) in second.data.results and second.data._worker is None, timeout=20_000)
    assert second.data.results[str(data)]["kind"] == "sft"
    for key, value in (("stage.name", "sft"), ("model.preset", "tiny"), ("model.n_layer", 3), ("run.max_steps", 77),
                       ("optim.lr", 0.0007), ("tokenizer.vocab_size", 1500), ("hardware.device", "cpu")):
        assert field(second, key).value() == value, key
    assert "n_layer: 3" in second.review.text() and "max_steps: 77" in second.review.text()
    second.review._validate()
    assert second.review.launch.isEnabled(), second.review.state.text()
    second.go_to(2)
    assert second.stage.reason() is None, second.stage.reason()


def test_bad_config_names_file_and_key(make_wizard, tmp_path):
    wizard = make_wizard()
    broken = tmp_path / "broken.yaml"
    broken.write_text("model:\n  preset: tiny\n run: [\n")
    why = wizard.open_config(str(broken))
    assert str(broken) in why and "invalid YAML" in why and ":3" in why
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("model:\n  preset: tiny\n  n_heads: 4\n")
    why = wizard.open_config(str(wrong))
    assert str(wrong) in why and "model.n_heads" in why and "did you mean n_head" in why
    why = wizard.open_config(str(tmp_path / "absent.yaml"))
    assert "absent.yaml" in why and "not found" in why
    assert wizard.doc.get("model.n_heads") is None and wizard.index == 0     # nothing half-loaded


def test_values_are_remembered_across_restarts(make_wizard, own_settings):
    first = make_wizard(remember=True)
    field(first, "run.max_steps").set_value(321)
    field(first, "model.d_model").set_value(96)
    first.data.builtin.setChecked(True)
    first.shutdown()                                   # what closing the window does
    second = make_wizard(remember=True)
    assert field(second, "run.max_steps").value() == 321 and field(second, "model.d_model").value() == 96
    second.go_to(4)
    assert "max_steps: 321" in second.review.text()
    forgetful = make_wizard(remember=False)
    assert field(forgetful, "run.max_steps").value() == 1000


def test_launched_yaml_is_what_is_remembered(qtbot, make_wizard, own_settings):
    first = make_wizard(remember=True)
    first.go_to(4)
    first.review.editor.setPlainText(first.review.text().replace("max_steps: 1000", "max_steps: 42"))
    with qtbot.waitSignal(first.launch_requested):
        first.review.launch.click()
    first.shutdown()
    assert field(make_wizard(remember=True), "run.max_steps").value() == 42


def test_main_window_file_menu_opens_run_config(qtbot, tmp_path, own_settings):
    win = MainWindow(EngineCommand(workspace=tmp_path / "ws"), run_doctor=False)
    qtbot.addWidget(win)
    assert any(a.text() == "Open run &config…" for a in win.menuBar().actions()[0].menu().actions())
    saved = tmp_path / "run.yaml"
    saved.write_text("model:\n  preset: tiny\nrun:\n  max_steps: 12\n")
    win.open_run_config(str(saved))
    assert win.stack.currentWidget() is win.wizard and win.wizard.index == 4
    assert "max_steps: 12" in win.wizard.review.text()
    win.close()                                        # saves the wizard's values into this test's settings
    assert "max_steps: 12" in settings.value("wizard/last_document", "", str)
