"""The live cost estimate beside the knobs: parameters (the engine's exact count), tokens per step, total tokens,
FLOPs per step and a rough training-memory figure, all from engine.estimate (pure arithmetic)."""

from __future__ import annotations

from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel


def human(n: float, unit: str = "") -> str:
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.2f} {suffix}{unit}"
    return f"{n:,.0f} {unit}".strip()


def human_bytes(n: float) -> str:
    for div, suffix in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= div:
            return f"{n / div:.2f} {suffix}"
    return f"{n:.0f} B"


class EstimateBox(QGroupBox):
    ROWS = (("params", "Parameters"), ("params_non_embedding", "  without embeddings"),
            ("tokens_per_step", "Tokens per step"), ("total_tokens", "Tokens in the run"),
            ("flops_per_step", "FLOPs per step"), ("memory_bytes", "Training memory (rough)"))

    def __init__(self, parent=None):
        super().__init__("Estimate", parent)
        self.setObjectName("estimateBox")
        form = QFormLayout(self)
        self.labels: dict[str, QLabel] = {}
        for key, text in self.ROWS:
            value = QLabel("—")
            value.setObjectName(f"estimate:{key}")
            self.labels[key] = value
            form.addRow(text, value)
        self.note = QLabel("Memory: weights, gradients, AdamW state and one micro-batch of activations.")
        self.note.setWordWrap(True)
        self.note.setObjectName("hintLabel")
        form.addRow(self.note)

    def show_estimate(self, est: dict | None) -> None:
        for key, label in self.labels.items():
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
