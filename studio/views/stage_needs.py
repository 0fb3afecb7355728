"""What a training stage needs before it can run (its data kind, a checkpoint to start from, a reward source), as a
line on the Stage page, and the reward-source picker: a named rule reward or a reward-model checkpoint from Runs.

Reads the stage registry (engine.stages, torch-free); rule names come from the engine's doctor report, since the
studio never imports engine.train. Knows nothing about the rest of the wizard.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QPushButton, QWidget

from engine.config import STAGE_INFO as STAGES
from engine.config import stage_knobs
from studio.i18n import tr
from studio.views.combo_choice import combo_value, show_value

DATA_NEEDS = {     # shown through translate("StageNeeds", ...)
    "pretrain": QT_TRANSLATE_NOOP("StageNeeds", "plain text"),
    "sft": QT_TRANSLATE_NOOP("StageNeeds", "chat conversations"),
    "preference": QT_TRANSLATE_NOOP("StageNeeds", "preference pairs (prompt, chosen, rejected)"),
    "rl_prompt": QT_TRANSLATE_NOOP("StageNeeds", "RL prompts (with answers for rule rewards)"),
}
REWARD_KIND = "reward_model"   # config.json "kind" of a reward-model checkpoint (engine/train/reward.py)


def needs_reward(stage: str) -> bool:
    """Whether the stage scores its own samples, so it needs a reward source (stage.reward)."""
    info = STAGES.get(stage)
    return "reward" in stage_knobs(stage) or (info is not None and info.kind == "rl_prompt")


def needs_teacher(stage: str) -> bool:
    """Whether the stage learns from a teacher checkpoint (stage.teacher: distillation)."""
    return "teacher" in stage_knobs(stage)


def stage_needs(stage: str) -> str:
    """One line: what the stage trains on and what it must be given, e.g. for dpo: preference pairs · an SFT
    checkpoint to start from."""
    info = STAGES.get(stage)
    if info is None:
        return ""
    parts = [tr("data: {0}").format(QCoreApplication.translate("StageNeeds", DATA_NEEDS.get(info.kind, info.kind)))]
    if info.needs_init:
        parts.append(tr("start from: a checkpoint (an SFT run)"))
    elif stage != "pretrain":
        parts.append(tr("start from: usually a pretrain run"))
    if needs_reward(stage):
        parts.append(tr("reward: a rule or a reward-model checkpoint"))
    if needs_teacher(stage):
        parts.append(tr("teacher: a trained checkpoint with the same tokenizer"))
    return " · ".join(parts)


def is_reward_checkpoint(path: str | Path) -> bool:
    """A step folder whose config.json says it is a reward model (a small file: safe on the UI thread)."""
    try:
        meta = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("kind") == REWARD_KIND


class RewardSource(QWidget):
    """An editable choice of stage.reward: "rule · NAME" items, reward checkpoints from past runs, or a folder."""

    changed = Signal()

    def __init__(self, help_text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.combo = QComboBox()
        self.combo.setEditable(True)
        self.combo.setObjectName("field:stage.reward")
        self.combo.setToolTip("<b>stage.reward</b><br>" + (help_text or self.tr("A rule reward, or a reward-model "
                                                                                "checkpoint.")))
        self.combo.currentTextChanged.connect(lambda _t: self.changed.emit())
        browse = QPushButton(self.tr("Browse…"))
        browse.clicked.connect(self._on_browse_clicked)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.combo, 1)
        row.addWidget(browse)

    def set_sources(self, rules: list[dict], checkpoints: list[tuple[str, str]]) -> None:
        """Offer the rules (doctor's rule_rewards) and those checkpoints that are reward models; keep the value."""
        current = self.value()
        self.combo.blockSignals(True)
        self.combo.clear()
        for r in rules:
            self.combo.addItem(self.tr("rule · {0}").format(r["name"]), r["name"])
            self.combo.setItemData(self.combo.count() - 1, r.get("description", ""), 3)  # 3: Qt.ToolTipRole
        for label, path in checkpoints:
            if is_reward_checkpoint(path):
                self.combo.addItem(self.tr("reward model · {0}").format(label), path)
        self.combo.blockSignals(False)
        self.set_value(current)

    def value(self) -> str:
        return combo_value(self.combo)

    def set_value(self, value: str | None) -> None:
        show_value(self.combo, value)

    def _on_browse_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self, self.tr("Choose a reward-model checkpoint"), str(Path.home()))
        if path:
            self.combo.setEditText(path)
