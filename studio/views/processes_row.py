"""The Hardware page's "Processes" row: how many training processes (one per GPU) a run is launched with.

Shown only when the doctor reports more than one GPU; the choice becomes `--nproc N` on the train command line,
and the engine starts them through torchrun (hardware.parallel says ddp or fsdp). Knows nothing about the config.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QWidget


class ProcessesRow(QWidget):
    processes_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        label = QLabel(self.tr("Processes (one per GPU)"))
        self.spin = QSpinBox()
        self.spin.setObjectName("processes")
        self.spin.setRange(1, 1)
        self.spin.setToolTip(self.tr("Train on several GPUs of this machine: each process drives one GPU and sees its "
                                     "own share of every batch (the run starts through torchrun; see "
                                     "hardware.parallel)"))
        self.note = QLabel()
        self.note.setObjectName("processesNote")
        layout.addWidget(label)
        layout.addWidget(self.spin)
        layout.addWidget(self.note, 1)
        self.spin.valueChanged.connect(self._on_value_changed)
        self.set_gpu_count(0)

    def set_gpu_count(self, gpus: int) -> None:
        """Offer 1..gpus processes; hidden (and 1) with fewer than two GPUs."""
        self.spin.setRange(1, max(1, gpus))  # starts at 1: several processes are the user's choice
        self.setVisible(gpus > 1)
        self._on_value_changed(self.spin.value())

    def processes(self) -> int:
        return self.spin.value() if not self.isHidden() else 1

    def launch_flags(self) -> list[str]:
        """The train command's extra arguments for this choice: none for one process."""
        n = self.processes()
        return ["--nproc", str(n)] if n > 1 else []

    def _on_value_changed(self, n: int) -> None:
        self.note.setText(self.tr("global batch = processes x batch size x gradient accumulation") if n > 1 else "")
        self.processes_changed.emit(n)
