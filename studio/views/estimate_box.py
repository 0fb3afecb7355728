"""The live cost estimate beside the knobs: parameters (the engine's exact count), tokens per step, total tokens,
FLOPs per step, a rough training-memory figure (engine.estimate, pure arithmetic), the training time from a
measured speed probe, and warnings when the memory or the time is out of reach (studio.models.cost)."""

from __future__ import annotations

import html

from PySide6.QtCore import QT_TR_NOOP
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel

from studio.i18n import tr
from studio.models.cost import Cost, human_bytes

__all__ = ["EstimateBox", "human", "human_bytes", "warnings_html"]


def human(n: float, unit: str = "") -> str:
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.2f} {suffix}{unit}"
    return f"{n:,.0f} {unit}".strip()


def warnings_html(cost: Cost) -> str:
    return "<br>".join(f"<span style='color:#d9534f'>⚠ {html.escape(w)}</span>" for w in cost.warnings)


class EstimateBox(QGroupBox):
    ROWS = (("params", QT_TR_NOOP("Parameters")), ("params_non_embedding", QT_TR_NOOP("  without embeddings")),
            ("params_active", QT_TR_NOOP("  active per token")),
            ("params_trainable", QT_TR_NOOP("  trained (fewer with LoRA)")),
            ("tokens_per_step", QT_TR_NOOP("Tokens per step")), ("total_tokens", QT_TR_NOOP("Tokens in the run")),
            ("flops_per_step", QT_TR_NOOP("FLOPs per step")), ("memory_bytes", QT_TR_NOOP("Training memory (rough)")))

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setTitle(self.tr("Estimate"))
        self.setObjectName("estimateBox")
        form = QFormLayout(self)
        self.labels: dict[str, QLabel] = {}
        for key, text in self.ROWS:
            value = QLabel("—")
            value.setObjectName(f"estimate:{key}")
            self.labels[key] = value
            form.addRow(tr(text), value)      # QT_TR_NOOP in a class body: lupdate's empty context
        self.time = QLabel("—")
        self.time.setObjectName("estimate:time")
        self.time.setWordWrap(True)
        form.addRow(self.tr("Training time"), self.time)
        self.warnings = QLabel()
        self.warnings.setObjectName("estimateWarnings")
        self.warnings.setWordWrap(True)
        self.warnings.hide()
        form.addRow(self.warnings)
        self.note = QLabel(self.tr("Memory: weights, gradients, the optimizer's state and one micro-batch of "
                                   "activations."))
        self.note.setWordWrap(True)
        self.note.setObjectName("hintLabel")
        form.addRow(self.note)

    def show_estimate(self, est: dict | None) -> None:
        for key, label in self.labels.items():
            if key == "params_active":  # a mixture of experts only: a token passes through k of E experts
                shown = est is not None and est.get(key, 0) < est.get("params", 0)
                label.setVisible(shown)
                self.layout().labelForField(label).setVisible(shown)
            if est is None or key not in est:
                label.setText("—")
            elif key == "memory_bytes":
                label.setText(human_bytes(est[key]))
            elif key.startswith("params"):
                label.setText(f"{int(est[key]):,}  ({human(est[key])})")
            elif key == "flops_per_step":
                label.setText(human(est[key], "FLOP"))
            else:
                label.setText(f"{int(est[key]):,}")

    def show_cost(self, cost: Cost) -> None:
        rate = f"<br><span style='color:gray'>{html.escape(cost.rate_text)}</span>" if cost.rate_text else ""
        self.time.setText(f"<b>{html.escape(cost.eta_text)}</b>{rate}")
        self.warnings.setText(warnings_html(cost))
        self.warnings.setVisible(bool(cost.warnings))
