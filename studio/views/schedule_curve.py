"""The learning-rate schedule of the current settings, drawn before launch: lr against step for optim.* and
run.max_steps, from engine.estimate.lr_curve, the same `lr_at` the trainer follows (so what is drawn is what runs).
A view only: it draws what it is given and knows nothing about the document or the engine process.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from engine.config import OptimConfig
from engine.estimate import lr_curve

COLOUR = "#3b82f6"
# Optimizers whose param groups scale the drawn lr (engine/optim.py): said under the curve so the number is not
# mistaken for the step size they take.
SCALED = {"lion": QT_TRANSLATE_NOOP("ScheduleCurve", "Lion steps at a third of this lr (its sign updates are larger "
                                                      "than Adam's)"),
          "muon": QT_TRANSLATE_NOOP("ScheduleCurve", "Muon's matrices take three times this lr; embeddings, head and "
                                                      "norms (AdamW) this one"),
          "sophia": QT_TRANSLATE_NOOP("ScheduleCurve", "Sophia clips each weight's step to a third of this lr")}


class ScheduleCurve(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("scheduleCurve")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        self.plot = pg.PlotWidget(self)
        self.plot.setObjectName("plot:schedule")
        self.plot.setFixedHeight(150)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.getViewBox().disableAutoRange()
        item = self.plot.getPlotItem()
        item.setLabel("bottom", self.tr("step"))
        item.setLabel("left", "lr")
        for side in ("left", "bottom"):
            item.getAxis(side).enableAutoSIPrefix(False)
        self.curve = self.plot.plot(pen=pg.mkPen(COLOUR, width=2))
        self.caption = QLabel("—")
        self.caption.setObjectName("scheduleCaption")
        self.caption.setWordWrap(True)
        layout.addWidget(self.plot)
        layout.addWidget(self.caption)
        self.steps: list[int] = []
        self.lrs: list[float] = []

    def show_schedule(self, optim: OptimConfig | None, total_steps: int) -> None:
        """Draw the schedule; None (settings that do not validate) clears it."""
        if optim is None or total_steps <= 0:
            self.steps, self.lrs = [], []
            self.curve.setData([], [])
            self.caption.setText("—")
            return
        steps, lrs = lr_curve(optim, total_steps)
        self.steps, self.lrs = [s + 1 for s in steps], lrs      # step events count from 1
        self.curve.setData(self.steps, self.lrs)
        self.plot.setXRange(0, total_steps, padding=0.02)
        self.plot.setYRange(0, max(lrs) * 1.08, padding=0)
        warmup = min(optim.warmup_steps, total_steps)
        text = self.tr("{0} after {1:,} warm-up steps: peak {2:.3g}, ends at {3:.3g} (step {4:,})").format(
            optim.schedule, warmup, optim.lr, lrs[-1], total_steps)
        if optim.name in SCALED:
            text += ". " + QCoreApplication.translate("ScheduleCurve", SCALED[optim.name]) + "."
        self.caption.setText(text)
