"""The attention view: a heatmap of where the model looked when it chose each reply token.

Row i is reply token i; its cells are the attention weights, in the chosen layer and head (or the mean of the
heads), from the position that chose that token over every token before it. Bright = looked at hard. Drawn with
pyqtgraph; the weights come from the engine's `inspect` event.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from studio.views.token_view import visible

MAX_TICKS = 40                      # label at most this many tokens per axis; the others stay unlabelled


def attention_matrix(rows: list[list[float]], n_columns: int) -> np.ndarray:
    """The ragged rows (row i has reply_start + i weights) as a (rows, columns) array, NaN where a token could not
    look (after itself), so the colour map leaves those cells empty."""
    out = np.full((len(rows), n_columns), np.nan, dtype=np.float32)
    for i, row in enumerate(rows):
        out[i, :len(row)] = row[:n_columns]
    return out


def tick_labels(texts: list[str], limit: int = MAX_TICKS) -> list[tuple[float, str]]:
    """(position, label) pairs for an axis of tokens: every token when few, else an even subset."""
    step = max(1, int(np.ceil(len(texts) / limit)))
    return [(i + 0.5, visible(t)[:8]) for i, t in enumerate(texts) if i % step == 0]


class AttentionView(QWidget):
    selection_changed = Signal(int, object)   # layer, head (None = the mean of the heads)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.layer = QSpinBox()
        self.layer.setObjectName("attentionLayer")
        self.layer.setToolTip(self.tr("Which transformer block's attention to show (0 = the first)"))
        self.head = QComboBox()
        self.head.setObjectName("attentionHead")
        self.head.setToolTip(self.tr("One attention head, or the mean of all heads of the layer"))
        self.layer.valueChanged.connect(self._on_selection_changed)
        self.head.currentIndexChanged.connect(self._on_selection_changed)
        self.caption = QLabel(self.tr("Rows: reply tokens. Columns: the tokens each one could look at."))
        self.caption.setWordWrap(True)
        controls = QHBoxLayout()
        controls.addWidget(QLabel(self.tr("Layer")))
        controls.addWidget(self.layer)
        controls.addWidget(QLabel(self.tr("Head")))
        controls.addWidget(self.head)
        controls.addWidget(self.caption, 1)
        self.plot = pg.PlotWidget()
        self.plot.setObjectName("attentionPlot")
        self.plot.setBackground("w")
        self.plot.invertY(True)
        self.plot.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get("viridis"))
        self.plot.addItem(self.image)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(controls)
        lay.addWidget(self.plot, 1)
        self._shape = (0, 0)
        self._quiet = False
        self.matrix = np.zeros((0, 0), dtype=np.float32)

    def set_shape(self, n_layer: int, n_head: int) -> None:
        """The model's layer and head counts (from the first inspect event); keeps the current choice if valid."""
        if (n_layer, n_head) == self._shape or n_layer <= 0:
            return
        self._shape = (n_layer, n_head)
        self._quiet = True
        self.layer.setRange(0, n_layer - 1)
        self.layer.setValue(n_layer - 1)
        self.head.clear()
        self.head.addItem(self.tr("mean of {0} heads").format(n_head), None)
        for h in range(n_head):
            self.head.addItem(self.tr("head {0}").format(h), h)
        self._quiet = False

    def selection(self) -> tuple[int | None, int | None]:
        """(layer, head) chosen; (None, None) until the model's shape is known (the server then picks the last layer
        and the mean of its heads)."""
        if not self._shape[0]:
            return None, None
        return self.layer.value(), self.head.currentData()

    def show_inspection(self, data: dict) -> None:
        self.set_shape(int(data.get("n_layer") or 0), int(data.get("n_head") or 0))
        tokens = list(data.get("tokens") or [])
        start = int(data.get("reply_start") or 0)
        rows = list(data.get("attention") or [])
        columns = [str(t.get("text", "")) for t in tokens[:max(start + len(rows) - 1, 0)]]
        self.matrix = attention_matrix(rows, len(columns))
        if self.matrix.size:
            self.image.setImage(np.nan_to_num(self.matrix, nan=0.0), levels=(0.0, float(np.nanmax(self.matrix))))
        else:
            self.image.clear()
        reply = [str(t.get("text", "")) for t in tokens[start:start + len(rows)]]
        self.plot.getAxis("bottom").setTicks([tick_labels(columns)])
        self.plot.getAxis("left").setTicks([tick_labels(reply)])
        self.plot.setRange(xRange=(0, max(len(columns), 1)), yRange=(0, max(len(rows), 1)), padding=0)
        head = data.get("head")
        which = self.tr("mean of the heads") if head is None else self.tr("head {0}").format(head)
        self.caption.setText(self.tr("Layer {0}, {1}. Rows: the {2} reply tokens; columns: the tokens each one could "
                                     "look at (brighter = more attention).").format(data.get("layer"), which,
                                                                                    len(rows)))

    def _on_selection_changed(self, *_args) -> None:
        if not self._quiet:
            self.selection_changed.emit(*self.selection())
