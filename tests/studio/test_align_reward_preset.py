"""The Stage page shows the reward source a stage's preset sets (grpo and ppo preset the rule exact_match), so
choosing either is not blocked on an empty "Reward from"; a user's own choice survives, and leaves with the stage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.config import load_preset
from studio.engine_cmd import EngineCommand
from studio.views.wizard import TrainWizard

RULES = [{"name": "exact_match", "description": "1 if the answer is right", "needs_answer": True},
         {"name": "format", "description": "1 if the reply is well formed", "needs_answer": False}]


def step_folder(root: Path, name: str, kind: str | None) -> str:
    folder = root / name / "checkpoints" / "step-000010"
    folder.mkdir(parents=True)
    meta = {"model": {}, "stage": "reward" if kind else "sft", **({"kind": kind} if kind else {})}
    (folder / "config.json").write_text(json.dumps(meta))
    (folder / "model.safetensors").write_bytes(b"")
    return str(folder)


@pytest.fixture
def wizard(qtbot, tmp_path):
    runs = [("sft-run · step-000010 (latest)", step_folder(tmp_path / "runs", "sft-run", None)),
            ("rm-run · step-000010 (latest)", step_folder(tmp_path / "runs", "rm-run", "reward_model"))]
    w = TrainWizard(EngineCommand(workspace=tmp_path / "ws"), checkpoints=lambda: runs, remember=False)
    qtbot.addWidget(w)
    w.resize(1100, 800)
    w.show()
    w.go_to(2)
    w.stage.set_engine_options({"rule_rewards": RULES})
    return w


@pytest.mark.parametrize("stage", ["grpo", "ppo"])
def test_choosing_an_rl_stage_preselects_its_presets_reward_and_next_is_not_blocked_by_it(wizard, qtbot, tmp_path,
                                                                                           stage):
    page = wizard.stage
    assert load_preset("stages", stage)["stage"]["reward"] == "exact_match"
    page.top.fields["stage.name"].set_value(stage)
    assert page.reward.isVisible()
    assert page.reward.combo.currentText() == "rule · exact_match" and page.reward.value() == "exact_match"
    assert "stage.reward" not in (page.reason() or "")
    preset = load_preset("stages", stage)["stage"]
    for key in ("rollout_tokens", "ppo_epochs", "rollout_temperature"):   # the preset's settings, not the defaults
        assert page.stage_knobs.fields[f"stage.{key}"].value() == preset[key], key
    page.entered()                                                 # entering the page keeps the preselected rule
    assert page.reward.value() == "exact_match"
    page.init.setCurrentIndex(1)                                   # the SFT run; nothing else is missing now
    page.entered()                                                 # re-entering keeps the picked run's path
    assert wizard.doc.get("stage.init") == page._init_path() and page._init_path().endswith("step-000010")
    assert page.reward.value() == "exact_match"
    qtbot.waitUntil(lambda: page.reason() is None and wizard.next.isEnabled(), timeout=10_000)
    assert wizard.doc.check().config.stage.reward == "exact_match"
    qtbot.wait(100)  # let the layout follow the new stage before the screenshot
    page.grab().save(str(tmp_path / f"stage_{stage}.png"))


def test_a_picked_reward_model_stays_until_the_stage_changes(wizard):
    page = wizard.stage
    page.top.fields["stage.name"].set_value("ppo")
    page.reward.combo.setCurrentIndex(2)                           # the reward model from Runs
    rm = page.reward.value()
    assert rm.endswith("step-000010") and wizard.doc.get("stage.reward") == rm
    page.entered()
    assert page.reward.value() == rm                               # the user's choice, not the preset's
    page.top.fields["stage.name"].set_value("dpo")
    assert not page.reward.isVisible() and "reward" not in (wizard.doc.doc.get("stage") or {})
    page.top.fields["stage.name"].set_value("grpo")                # a new stage starts from its own preset
    assert page.reward.value() == "exact_match"


def test_an_ensemble_of_reward_models_from_the_yaml_stays_a_list(wizard):
    page = wizard.stage
    page.top.fields["stage.name"].set_value("ppo")
    rms = ["/runs/rm-a", "/runs/rm-b"]
    wizard.doc.set("stage.reward", rms)                            # stage.reward as a list: an ensemble
    page.entered()
    assert page.reward.value() == "/runs/rm-a, /runs/rm-b"         # shown as text ...
    assert wizard.doc.get("stage.reward") == rms                   # ... and not written back as one string
    page.reward.combo.setEditText("/runs/rm-a, /runs/rm-b, /runs/rm-c")   # a member typed in: still a list
    assert wizard.doc.get("stage.reward") == [*rms, "/runs/rm-c"]
    page.reward.combo.setEditText("exact_match")                   # a new choice replaces it
    assert wizard.doc.get("stage.reward") == "exact_match"
