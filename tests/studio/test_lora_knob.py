"""The Stage page's LoRA knobs: shown where a checkpoint is fine-tuned, hidden for pretraining, each with the
engine's help text, and a rank without a base checkpoint refused by key before launch."""

from __future__ import annotations

import pytest

from engine.config import help_for
from studio.engine_cmd import EngineCommand
from studio.views.wizard import TrainWizard


@pytest.fixture
def wizard(qtbot, tmp_path):
    w = TrainWizard(EngineCommand(workspace=tmp_path / "ws"))
    qtbot.addWidget(w)
    w.show()
    return w


def test_lora_rank_is_offered_for_fine_tuning_with_the_engine_help(qtbot, wizard, tmp_path):
    wizard.go_to(2)
    page = wizard.stage
    page.top.fields["stage.name"].set_value("pretrain")
    assert not page.lora_box.isVisible()
    page.top.fields["stage.name"].set_value("sft")
    assert page.lora_box.isVisible()
    rank = page.groups["lora"].fields["lora.rank"]
    assert help_for()["lora"]["rank"]["help"] in rank.widget.toolTip() + rank.label.toolTip()
    page.init.setEditText("")
    rank.set_value(8)
    assert not wizard.next.isEnabled() and "stage.init" in wizard.why.text()
    assert rank.error.isVisible()
    base = tmp_path / "base"
    (base / "checkpoints").mkdir(parents=True)
    page.init.setEditText(str(base))
    assert not rank.error.isVisible()
    assert wizard.doc.get("lora.rank") == 8
    rows = page.groups["lora"].fields["lora.train_special_tokens"]
    assert rows.widget.isChecked()  # on by default: the chat tokens' rows train with the adapters
    rows.set_value(False)
    assert wizard.doc.get("lora.train_special_tokens") is False
    page.grab().save(str(tmp_path / "stage.png"))
