"""Choosing an MoE preset in the wizard: the run document validates (model.moe comes from the preset, not a field)
and the estimate shows the parameters a token passes through beside the total; a dense preset hides that row."""

from __future__ import annotations

from studio.engine_cmd import EngineCommand
from studio.views.wizard import TrainWizard


def test_moe_preset_validates_and_shows_active_parameters(qtbot, tmp_path):
    wizard = TrainWizard(EngineCommand(workspace=tmp_path / "ws"))
    qtbot.addWidget(wizard)
    wizard.resize(1024, 700)
    wizard.show()
    wizard.go_to(2)
    page = wizard.stage
    assert "model.moe" not in page.groups["model"].fields
    assert "relu2" in [page.groups["model"].fields["model.activation"].widget.itemText(i)
                       for i in range(page.groups["model"].fields["model.activation"].widget.count())]
    page.top.fields["model.preset"].set_value("moe-tiny")
    page._on_preset_changed()
    check = page.doc.check()
    assert check.ok, check.message
    assert check.config.model.moe.num_experts == 8
    active = page.estimate.labels["params_active"]
    assert active.isVisible() and active.text().startswith("1,004,672")
    assert page.estimate.labels["params"].text().startswith("2,626,688")
    wizard.grab().save("/tmp/moe_wizard.png")
    page.top.fields["model.preset"].set_value("tiny")
    page._on_preset_changed()
    assert page.doc.check().config.model.moe is None and not active.isVisible()
