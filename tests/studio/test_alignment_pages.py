"""The studio side of the alignment stages, on the real widgets: the Stage page offers every stage of the registry with
its own settings and what it needs (init checkpoint, reward source from rules or reward checkpoints from Runs), the
Data page detects preference pairs and previews chosen beside rejected, and the monitor plots the new step metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

import engine.stages
from engine.protocol import Event
from engine.stages import StageInfo
from studio.engine_cmd import EngineCommand
from studio.models.run_state import RunState
from studio.views.plots import PlotGrid
from studio.views.wizard import TrainWizard

RULES = [{"name": "exact_match", "description": "1 if the answer is right", "needs_answer": True},
         {"name": "format", "description": "1 if the reply is well formed", "needs_answer": False}]


def step_folder(root: Path, name: str, kind: str | None) -> Path:
    folder = root / name / "checkpoints" / "step-000010"
    folder.mkdir(parents=True)
    meta = {"model": {}, "stage": "reward" if kind else "sft", **({"kind": kind} if kind else {})}
    (folder / "config.json").write_text(json.dumps(meta))
    (folder / "model.safetensors").write_bytes(b"")
    return folder


@pytest.fixture
def runs(tmp_path) -> list[tuple[str, str]]:
    sft = step_folder(tmp_path / "runs", "sft-run", None)
    rm = step_folder(tmp_path / "runs", "rm-run", "reward_model")
    return [("sft-run · step-000010 (latest)", str(sft)), ("rm-run · step-000010 (latest)", str(rm))]


def make_wizard(qtbot, tmp_path, runs, english: bool = True) -> TrainWizard:
    w = TrainWizard(EngineCommand(workspace=tmp_path / "ws"), checkpoints=lambda: runs)
    qtbot.addWidget(w)
    w.resize(1100, 800)
    w.show()
    # the built-in data's preview (a worker) lands first, now with preference pairs and RL prompts as well
    qtbot.waitUntil(lambda: "rl_prompt" in w.data.preview.toPlainText(), timeout=60_000)
    text = w.data.preview.toPlainText()
    assert not english or ("preference" in text and "chosen" in text and "rejected" in text)
    return w


def test_stage_page_offers_dpo_and_reward_with_their_settings_and_needs(qtbot, tmp_path, runs):
    wizard = make_wizard(qtbot, tmp_path, runs)
    wizard.go_to(2)
    page = wizard.stage
    combo = page.top.fields["stage.name"].widget
    offered = [combo.itemText(i) for i in range(combo.count())]
    assert {"pretrain", "sft", "dpo", "reward"} <= set(offered)
    assert not page.stage_box.isVisible()                        # pretrain has no settings of its own

    page.top.fields["stage.name"].set_value("dpo")
    assert page.stage_box.isVisible()
    shown = {k for k, f in page.stage_knobs.fields.items() if f.widget.isVisible()}
    assert shown == {"stage.loss_type", "stage.beta", "stage.label_smoothing", "stage.rpo_alpha"}
    assert "preference pairs" in page.needs.text() and "SFT" in page.needs.text()
    assert not page.reward.isVisible()                           # DPO scores nothing itself
    assert "stage.init" in (page.reason() or "")                 # no checkpoint to start from yet
    page.entered()
    page.init.setCurrentIndex(1)                                 # the SFT run, picked from Runs
    assert wizard.doc.get("stage.init") == runs[0][1]
    assert page.reason() is None, page.reason()
    page.stage_knobs.fields["stage.loss_type"].set_value("ipo")
    page.stage_knobs.fields["stage.beta"].set_value(0.0)
    assert "stage.beta" in (page.reason() or "")                 # the engine's validation, by key
    page.stage_knobs.fields["stage.beta"].set_value(0.25)
    assert page.reason() is None
    resolved = wizard.doc.resolved()["stage"]
    assert resolved["loss_type"] == "ipo" and resolved["beta"] == 0.25
    qtbot.wait(100)  # let the layout follow the new stage before the screenshot
    page.grab().save(str(tmp_path / "stage_dpo.png"))

    page.top.fields["stage.name"].set_value("reward")
    assert page.stage_box.isVisible() and "preference pairs" in page.needs.text()
    shown = {k for k, f in page.stage_knobs.fields.items() if f.widget.isVisible()}
    assert shown == {"stage.rm_negatives", "stage.rm_center"}    # the reward model's negatives and centring
    page.top.fields["stage.name"].set_value("pretrain")
    assert "loss_type" not in (wizard.doc.doc.get("stage") or {})  # another stage's settings are not kept


def test_a_stage_that_samples_asks_for_a_reward_source_from_rules_or_reward_runs(qtbot, tmp_path, runs, monkeypatch):
    # a stage this branch does not ship, declared only in the registry: the page follows the registry
    monkeypatch.setitem(engine.stages.STAGES, "grpo", StageInfo(
        name="grpo", kind="rl_prompt", builtin=("rl_prompt_train", "rl_prompt_val"), preset="grpo", needs_init=True,
        help="group-relative policy optimisation", module="engine.train.grpo:GRPOStage"))
    wizard = make_wizard(qtbot, tmp_path, runs)
    wizard.go_to(2)
    page = wizard.stage
    page.set_engine_options({"stages": list(engine.stages.STAGES), "rule_rewards": RULES})
    page.top.fields["stage.name"].set_value("grpo")
    page.entered()
    assert page.reward.isVisible() and "RL prompts" in page.needs.text() and "reward" in page.needs.text()
    items = [page.reward.combo.itemText(i) for i in range(page.reward.combo.count())]
    assert items == ["rule · exact_match", "rule · format", "reward model · rm-run · step-000010 (latest)"]
    assert page.reward.value() == "exact_match"                  # the grpo preset's rule, shown and used
    assert "stage.reward" not in (page.reason() or "")
    page.reward.combo.setCurrentIndex(2)
    assert wizard.doc.get("stage.reward") == runs[1][1]
    page.reward.combo.setCurrentIndex(0)
    assert wizard.doc.get("stage.reward") == "exact_match"
    qtbot.wait(100)  # let the layout follow the new stage before the screenshot
    page.grab().save(str(tmp_path / "stage_grpo.png"))


def test_data_page_detects_preference_pairs_and_shows_chosen_beside_rejected(qtbot, tmp_path, runs):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"prompt": f"What is {i} + {i}?", "chosen": f"{2 * i}",
                                         "rejected": f"{2 * i + 1}"}) + "\n" for i in range(30))
                     + json.dumps({"chosen": [{"role": "user", "content": "Hi"},
                                              {"role": "assistant", "content": "Hello! How can I help?"}],
                                   "rejected": [{"role": "user", "content": "Hi"},
                                                {"role": "assistant", "content": "What."}]}) + "\n")
    wizard = make_wizard(qtbot, tmp_path, runs)
    page = wizard.data
    page.builtin.setChecked(False)
    page.add_files([str(pairs)])
    qtbot.waitUntil(lambda: str(pairs) in page.results and page._worker is None, timeout=20_000)
    assert page.results[str(pairs)]["kind"] == "preference"
    page.files.setCurrentRow(0)
    assert "preference" in page.summary.text()
    html = page.preview.toHtml()
    assert "chosen" in html and "rejected" in html and "<table" in html
    text = page.preview.toPlainText()
    assert "What is 0 + 0?" in text and "0\t1" in text.replace("\n", "\t")  # 0 beside 1, in one table row
    page.grab().save(str(tmp_path / "data_pairs.png"))
    wizard.go_to(2)
    wizard.stage.top.fields["stage.name"].set_value("sft")
    assert "needs sft data" in (wizard.stage.reason() or "")
    wizard.stage.top.fields["stage.name"].set_value("dpo")
    reason = wizard.stage.reason() or ""
    assert "stage.init" in reason and "data" not in reason      # the pairs suit dpo; only the init is missing


def test_monitor_plots_preference_and_rl_metrics_as_they_arrive(qtbot, tmp_path):
    state = RunState("dpo")
    grid = PlotGrid(state)
    qtbot.addWidget(grid)
    grid.resize(1000, 900)
    grid.show()
    qtbot.waitExposed(grid)
    base = {"total_steps": 40, "lr": 1e-4, "grad_norm": 1.0, "tokens_per_s": 900.0}
    for i in range(1, 21):
        state.apply(Event("step", 1.0, {"step": i, "loss": 0.69 - 0.01 * i, "chosen_reward": 0.01 * i,
                                        "rejected_reward": -0.01 * i, "margin": 0.02 * i,
                                        "pref_accuracy": min(1.0, 0.5 + 0.03 * i), **base}))
    first = {"Chosen vs rejected reward", "Margin", "Preference accuracy"}
    qtbot.waitUntil(lambda: first <= set(grid.plots) and not grid.building, timeout=10_000)  # built one per turn
    state.apply(Event("eval", 1.0, {"step": 20, "val_loss": 0.5, "metrics": {"pref_accuracy": 0.8, "margin": 0.3,
                                                                             "chosen_reward": 0.2,
                                                                             "rejected_reward": -0.1}}))
    for i in range(21, 31):  # RL stages' keys appear mid-run and get their own plots
        state.apply(Event("step", 1.0, {"step": i, "loss": 0.3, "reward_mean": 0.1 * i, "reward_std": 0.2,
                                        "kl": 0.001 * i, **base}))
    later = {"Eval: Preference accuracy", "Eval: chosen vs rejected reward", "Reward (mean, std)",
             "KL to the reference"}
    qtbot.waitUntil(lambda: later <= set(grid.plots) and not grid.building, timeout=10_000)
    grid.refresh()
    assert grid.point_count("margin") == 20 and grid.point_count("kl") == 10
    assert len(grid.legend.get("Chosen vs rejected reward", [])) == 2
    grid.resize(1000, 2400)  # every plot in view for the screenshot (the monitor scrolls them)
    qtbot.wait(100)
    grid.refresh()
    grid.grab().save(str(tmp_path / "monitor_dpo.png"))
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton)


def test_picking_a_stage_from_the_list_after_the_doctors_options_arrive_writes_its_name(qtbot, tmp_path, runs):
    """The doctor's lists refill the choice fields; a stage picked from the refilled list (by its row, as a click
    does) must still write its YAML value, not None."""
    wizard = make_wizard(qtbot, tmp_path, runs)
    wizard.go_to(2)
    page = wizard.stage
    stages = list(engine.stages.STAGES)
    page.set_engine_options({"stages": stages, "optimizers": ["adamw", "lion"], "rule_rewards": RULES})
    combo = page.top.fields["stage.name"].widget
    assert [combo.itemData(i) for i in range(combo.count())] == stages   # no duplicate row for the current value
    combo.setCurrentIndex(stages.index("sft"))
    assert wizard.doc.get("stage.name") == "sft" and page.top.fields["stage.name"].value() == "sft"
    optim = page.groups["optim"].fields["optim.name"].widget
    optim.setCurrentIndex(1)
    assert wizard.doc.get("optim.name") == "lion"


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_stage_page_never_scrolls_sideways_at_1024_pixels(qtbot, tmp_path, runs, language):
    # the main window at 1024 px leaves the wizard ~870 px; the LoRA box and the RL "needs" line once asked for
    # more and hid "Browse..." behind a sideways scroll bar
    from PySide6.QtWidgets import QScrollArea

    from studio import i18n
    assert i18n.install_translator(language) == language
    try:
        wizard = make_wizard(qtbot, tmp_path, runs, english=language == "en")
        wizard.resize(870, 650)
        wizard.go_to(2)
        page = wizard.stage
        scroll = page.findChild(QScrollArea)
        combo = page.top.fields["stage.name"].widget
        for row in range(combo.count()):
            combo.setCurrentIndex(row)
            qtbot.wait(50)
            assert scroll.horizontalScrollBar().maximum() == 0, f"{language}: {combo.itemText(row)} scrolls sideways"
    finally:
        i18n.install_translator("en")
