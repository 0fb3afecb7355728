"""The Stage page offers distillation with a teacher picker: language-model checkpoints from Runs (reward models left
out) or a typed folder, written to stage.teacher; the stage's alpha and temperature beside it; no teacher, no launch."""

from __future__ import annotations

import json
from pathlib import Path

from studio.engine_cmd import EngineCommand
from studio.views.wizard import TrainWizard


def step_folder(root: Path, name: str, kind: str | None) -> str:
    folder = root / name / "checkpoints" / "step-000010"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model": {}, "stage": "sft", **({"kind": kind} if kind else {})}))
    (folder / "model.safetensors").write_bytes(b"")
    return str(folder)


def test_distill_asks_for_a_teacher_from_past_runs(qtbot, tmp_path):
    runs = [("big-sft · step-000010 (latest)", step_folder(tmp_path, "big-sft", None)),
            ("rm-run · step-000010 (latest)", step_folder(tmp_path, "rm-run", "reward_model"))]
    wizard = TrainWizard(EngineCommand(workspace=tmp_path / "ws"), checkpoints=lambda: runs)
    qtbot.addWidget(wizard)
    wizard.resize(1100, 800)
    wizard.show()
    wizard.go_to(2)
    page = wizard.stage
    combo = page.top.fields["stage.name"].widget
    assert "distill" in [combo.itemText(i) for i in range(combo.count())]
    assert not page.teacher.isVisible()                               # pretrain learns from no teacher

    page.top.fields["stage.name"].set_value("distill")
    page.entered()
    assert page.teacher.isVisible() and "teacher" in page.needs.text()
    shown = {k for k, f in page.stage_knobs.fields.items() if f.widget.isVisible()}
    assert shown == {"stage.alpha", "stage.temperature"}
    assert "stage.teacher" not in page.stage_knobs.fields             # the picker owns it
    items = [page.teacher.combo.itemText(i) for i in range(page.teacher.combo.count())]
    assert items == ["teacher · big-sft · step-000010 (latest)"]      # a reward model predicts no tokens
    assert "stage.teacher" in (page.reason() or "")

    page.teacher.combo.setCurrentIndex(0)
    assert wizard.doc.get("stage.teacher") == runs[0][1]
    assert wizard.doc.check().ok and wizard.doc.check().config.stage.teacher == runs[0][1]
    assert "stage.teacher" not in (page.reason() or "")
    page.teacher.combo.setEditText(str(tmp_path / "typed"))
    assert wizard.doc.get("stage.teacher") == str(tmp_path / "typed")
    qtbot.wait(100)
    page.grab().save(str(tmp_path.parent / "stage_distill.png"))

    page.top.fields["stage.name"].set_value("sft")                     # the teacher goes with its stage
    assert wizard.doc.get("stage.teacher") in (None, "") and not page.teacher.isVisible()
