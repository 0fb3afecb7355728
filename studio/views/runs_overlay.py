"""The Runs page's comparison: the loss curves (train, and val at each eval) of several runs overlaid in one plot,
with a legend naming each run, so optimizers, model shapes or a distilled student and its twin trained alone can be
compared at a glance.

Each run's events.jsonl is replayed into a RunState by a worker (studio.models.replay), never on the UI thread,
however big the file; curves are drawn from each series' min/max envelope, so a long run costs no more to draw.
"""

from __future__ import annotations

import html
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from studio.models.replay import Replayed, replay_file
from studio.models.run_scan import RunInfo
from studio.views.plots import PALETTE
from studio.workers import Worker

TRAIN, VAL = "loss", "val_loss"


class LossOverlay(QWidget):
    """A window of overlaid loss curves: one colour per run, solid for train, dashed with a dot per eval for val."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle(self.tr("Compare runs · loss"))
        self.setObjectName("lossOverlay")
        self.resize(900, 560)
        self.title = QLabel("<b>Loss</b>")
        self.legend = QLabel()                     # a label, not pyqtgraph's LegendItem (it crashed PySide in paint)
        self.legend.setObjectName("overlayLegend")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.status = QLabel()
        self.status.setObjectName("overlayStatus")
        self.log_scale = QCheckBox(self.tr("Log scale"))
        self.log_scale.toggled.connect(self._on_log_toggled)
        self.plot = pg.PlotWidget()
        self.plot.setObjectName("plot:overlay")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setLabel("bottom", "step")
        self.plot.getPlotItem().getAxis("left").enableAutoSIPrefix(False)
        top = QHBoxLayout()
        top.addWidget(self.title)
        top.addStretch(1)
        top.addWidget(self.log_scale)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.legend)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.status)
        self.runs: list[RunInfo] = []
        self.loaded: dict[str, Replayed] = {}       # run path -> its replayed history
        self.failed: dict[str, str] = {}            # run path -> why it could not be read
        self.curves: dict[str, list[pg.PlotDataItem]] = {}
        self._workers: list[Worker] = []
        self._generation = 0                        # results of an earlier selection are dropped

    # ------------------------------------------------------------------ API
    def set_runs(self, runs: list[RunInfo]) -> None:
        """Show these runs (replacing any shown): each run's events are read by a worker, curves appear as they land."""
        for w in self._workers:
            w.cancel()
        self._workers.clear()
        self._generation += 1
        self.runs, self.loaded, self.failed = list(runs), {}, {}
        self.plot.clear()
        self.curves.clear()
        self._update_legend()
        for run in self.runs:
            worker = Worker(replay_file, str(Path(run.path) / "events.jsonl"), run.name, run.path)
            gen = self._generation
            worker.signals.succeeded.connect(lambda result, r=run, g=gen: self._on_loaded(g, r, result))
            worker.signals.failed.connect(lambda message, r=run, g=gen: self._on_failed(g, r, message))
            self._workers.append(worker.start())

    def pending(self) -> int:
        return len(self.runs) - len(self.loaded) - len(self.failed)

    # ------------------------------------------------------------------ slots
    def _on_loaded(self, generation: int, run: RunInfo, result: Replayed) -> None:
        if generation != self._generation:
            return
        self.loaded[run.path] = result
        colour = self._colour(run)
        items = []
        for key, dashed in ((TRAIN, False), (VAL, True)):
            s = result.state.series.get(key)
            if s is None or not len(s):
                continue
            idx = s.envelope()                      # at most ~4k points, whatever the run's length
            c = pg.mkColor(colour)
            pen = pg.mkPen(c, width=1, style=Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine)
            kwargs = {"pen": pen, "name": f"{run.name} · {'val' if dashed else 'train'}", "antialias": False}
            if dashed:
                kwargs.update(symbol="o", symbolSize=6, symbolBrush=c, symbolPen=None)
            items.append(self.plot.plot(s.x[idx], s.y[idx], **kwargs))
        self.curves[run.path] = items
        self._update_legend()

    def _on_failed(self, generation: int, run: RunInfo, message: str) -> None:
        if generation == self._generation:
            self.failed[run.path] = message.splitlines()[0] if message else "unreadable"
            self._update_legend()

    def _on_log_toggled(self, on: bool) -> None:
        self.plot.setLogMode(y=on)

    # ------------------------------------------------------------------ drawing
    def _colour(self, run: RunInfo) -> str:
        i = next((k for k, r in enumerate(self.runs) if r.path == run.path), 0)
        return PALETTE[i % len(PALETTE)]

    def _update_legend(self) -> None:
        parts, tips = [], []
        for run in self.runs:
            c, name = self._colour(run), html.escape(run.name)
            if run.path in self.failed:
                mark, note = "✕", " <i>" + self.tr("(cannot read its events)") + "</i>"
            elif run.path not in self.loaded:
                mark, note = "…", " <i>" + self.tr("(loading)") + "</i>"
            elif not self.curves.get(run.path):
                mark, note = "·", " <i>" + self.tr("(no loss logged yet)") + "</i>"
            else:
                mark, note = "━", ""
            # one entry never wraps inside (a run name may hold hyphens); the line wraps between entries
            parts.append(f"<span style='white-space:nowrap'><span style='color:{c}'>{mark}</span>&nbsp;{name}"
                         f"{note}</span>")
            tips.append(f"{run.path}" + (f": {self.failed[run.path]}" if run.path in self.failed else ""))
        self.legend.setText(" &nbsp;&nbsp; ".join(parts))
        self.legend.setToolTip("\n".join(tips))
        n = self.pending()
        note = self.tr("solid: training loss · dashed with dots: val loss at each eval")
        mixed = [r.name for r in self.runs if r.path in self.loaded and self.loaded[r.path].state.stage == "distill"]
        if mixed:  # its training loss holds the KL term too; its val loss is plain cross-entropy like SFT's
            note += self.tr(" · {0}: training loss includes the KL to the teacher").format(", ".join(mixed))
        self.status.setText(self.tr("reading %n run(s)…", "", n) if n else note)
