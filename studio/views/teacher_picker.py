"""The Stage page's teacher picker for distillation (stage.teacher): language-model checkpoints of past runs from the
Runs page, or any folder typed or browsed to. Reward models are left out: they score replies, they do not predict
tokens. Whether the teacher's tokenizer matches the student's is the engine's check, said before the first step.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QPushButton, QWidget

from studio.views.combo_choice import combo_value, show_value
from studio.views.stage_needs import is_reward_checkpoint


class TeacherPicker(QWidget):
    """An editable choice of stage.teacher: "teacher · RUN · step" items from past runs, or a folder."""

    changed = Signal()

    def __init__(self, help_text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.combo = QComboBox()
        self.combo.setEditable(True)
        self.combo.setObjectName("field:stage.teacher")
        self.combo.setToolTip(f"<b>stage.teacher</b><br>{help_text or 'The checkpoint the student learns from.'}")
        self.combo.lineEdit().setPlaceholderText(self.tr("a finished run whose tokenizer the student shares"))
        self.combo.currentTextChanged.connect(lambda _t: self.changed.emit())
        browse = QPushButton(self.tr("Browse…"))
        browse.clicked.connect(self._on_browse_clicked)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.combo, 1)
        row.addWidget(browse)

    def set_checkpoints(self, checkpoints: list[tuple[str, str]]) -> None:
        """Offer the language-model checkpoints among (label, path); keep the current value."""
        current = self.value()
        self.combo.blockSignals(True)
        self.combo.clear()
        for label, path in checkpoints:
            if not is_reward_checkpoint(path):
                self.combo.addItem(self.tr("teacher · {0}").format(label), path)
        self.combo.blockSignals(False)
        self.set_value(current)

    def value(self) -> str:
        return combo_value(self.combo)

    def set_value(self, value: str | None) -> None:
        show_value(self.combo, value, deselect=True)

    def _on_browse_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose the teacher's checkpoint or run folder", str(Path.home()))
        if path:
            self.combo.setEditText(path)
