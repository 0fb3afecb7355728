"""SamplingBox: the sampling controls of a chat (temperature, top-k, top-p, max new tokens, repetition penalty,
seed), starting at the engine's defaults (engine.protocol.SAMPLING_DEFAULTS) and remembered per settings prefix.

Knows nothing about servers: `params()` is the dict sent with each `generate` command.
"""

from __future__ import annotations

from PySide6.QtCore import QT_TRANSLATE_NOOP
from PySide6.QtWidgets import QDoubleSpinBox, QGridLayout, QGroupBox, QLabel, QPushButton, QSpinBox, QWidget

from engine.protocol import SAMPLING_DEFAULTS
from studio import settings

SAMPLING = (  # key, label, min, max, decimals (None = integer), tooltip; SamplingBox translates them when shown
    ("temperature", QT_TRANSLATE_NOOP("SamplingBox", "Temperature"), 0.0, 2.0, 2,
     QT_TRANSLATE_NOOP("SamplingBox", "Randomness: 0 always picks the likeliest token; higher is wilder.")),
    ("top_k", "Top-k", 0, 1000, None,
     QT_TRANSLATE_NOOP("SamplingBox", "Sample only among the k likeliest tokens (0 = no limit).")),
    ("top_p", "Top-p", 0.0, 1.0, 2,
     QT_TRANSLATE_NOOP("SamplingBox", "Sample from the smallest set of tokens whose probabilities add up to p.")),
    ("max_new_tokens", QT_TRANSLATE_NOOP("SamplingBox", "Max new tokens"), 1, 4096, None,
     QT_TRANSLATE_NOOP("SamplingBox", "The longest reply, in tokens.")),
    ("repetition_penalty", QT_TRANSLATE_NOOP("SamplingBox", "Repetition penalty"), 1.0, 2.0, 2,
     QT_TRANSLATE_NOOP("SamplingBox", "Above 1 makes tokens already in the conversation less likely (less looping).")),
    ("seed", QT_TRANSLATE_NOOP("SamplingBox", "Seed"), -1, 2**31 - 1, None,
     QT_TRANSLATE_NOOP("SamplingBox", "Fixes the sampling for repeatable replies (-1 = random).")),
)
NO_SEED = -1


def default_value(key: str) -> float | int:
    value = getattr(SAMPLING_DEFAULTS, key)
    return NO_SEED if value is None else value


class SamplingBox(QGroupBox):
    def __init__(self, settings_prefix: str, title: str = "", columns: int = 1, labels_above: bool = False,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setTitle(title or self.tr("Sampling"))
        self.prefix = settings_prefix
        self.controls: dict[str, QSpinBox | QDoubleSpinBox] = {}
        grid = QGridLayout(self)
        for i, (key, label, lo, hi, dec, tip) in enumerate(SAMPLING):
            w = QDoubleSpinBox() if dec is not None else QSpinBox()
            if dec is not None:
                w.setDecimals(dec)
                w.setSingleStep(0.05)
            w.setRange(lo, hi)
            default = default_value(key)
            w.setValue(settings.value(f"{self.prefix}/{key}", default, type(default)))
            tip = self.tr(tip)
            w.setToolTip(self.tr("{0} Default: {1}.").format(tip, default))
            w.setObjectName(f"sampling:{key}")
            lab = QLabel(self.tr(label))
            lab.setToolTip(tip)
            row, col = divmod(i, columns)
            if labels_above:  # a column is as wide as its widest label or box, not both side by side: A/B fits 1024 px
                grid.addWidget(lab, 2 * row, col)
                grid.addWidget(w, 2 * row + 1, col)
            else:
                grid.addWidget(lab, row, 2 * col)
                grid.addWidget(w, row, 2 * col + 1)
            self.controls[key] = w
        self.reset = QPushButton(self.tr("Defaults"))
        self.reset.setToolTip(self.tr("Back to the engine's defaults"))
        self.reset.clicked.connect(self._on_reset_clicked)
        grid.addWidget(self.reset, grid.rowCount(), columns - 1 if labels_above else 2 * columns - 1)

    def params(self) -> dict:
        p = {k: w.value() for k, w in self.controls.items()}
        if p["seed"] == NO_SEED:
            p["seed"] = None
        return p

    def save_settings(self) -> None:
        for k, w in self.controls.items():
            settings.set_value(f"{self.prefix}/{k}", w.value())

    def _on_reset_clicked(self) -> None:
        for k, w in self.controls.items():
            w.setValue(default_value(k))
