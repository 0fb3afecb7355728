"""Live metric plots of one run (pyqtgraph), redrawn on a timer from the RunState's numpy series.

Loss (train, smoothed, and val; log scale and smoothing controls), learning rate, gradient norm, tokens/s and
memory come first, then task accuracy (one line per task family, 0-100%), then stage metrics (reward, KL, chosen
vs rejected, preference accuracy, expert load...) as their first values arrive. The grid reflows to 3 or 2
columns with its width, and each plot's title and legend are a wrapping label above it, so nothing is clipped.
Curves never get the raw arrays: the whole run is drawn from each series' min/max envelope and a zoomed-in view
from a min/max reduction of the visible slice (series.py), so at most ~4k points per curve reach pyqtgraph.
"""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QGraphicsItem,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from studio.models.run_state import RunState
from studio.models.series import MAX_BUCKETS
from studio.views.plot_words import nowrap, plot_text

REFRESH_MS = 33          # one plot per tick: the loss plot at ~15 Hz, the others in turn
BASE_PLOTS = (("loss", "Loss"), ("lr", "Learning rate"), ("grad_norm", "Gradient norm"),
              ("tokens_per_s", "Tokens / s"), ("memory", "Memory (MiB)"))
MEMORY_KEYS = ("mem_allocated", "mem_reserved", "mem_peak")
BASE_KEYS = {"loss", "val_loss", "lr", "grad_norm", "tokens_per_s", *MEMORY_KEYS}
PAIRED = {"chosen_reward": "Chosen vs rejected reward", "rejected_reward": "Chosen vs rejected reward",
          "eval/chosen_reward": "Eval: chosen vs rejected reward",
          "eval/rejected_reward": "Eval: chosen vs rejected reward",
          "reward_mean": "Reward (mean, std)", "reward_std": "Reward (mean, std)"}
TITLES = {"kl": "KL to the reference", "pref_accuracy": "Preference accuracy",  # where a key reads badly
          "aux_loss": "Load-balancing loss (1 = balanced)", "z_loss": "Router z-loss",
          "expert_load": "Expert load (share of routed tokens)"}
ACCURACY = "accuracy"    # the group of eval/accuracy (all tasks) and eval/acc_<family>: one plot, 0-100%
ACCURACY_TITLE = "Task accuracy (%)"
ACCURACY_RANGE = (-3.0, 103.0)
PALETTE = ("#3b82f6", "#f97316", "#16a34a", "#e11d48", "#9333ea", "#0891b2", "#ca8a04", "#64748b")
MIB = 1 / 2**20
X_HEADROOM = 0.05        # a followed x range ends 5% of the run past the last step: it moves every 5% of the run
Y_MARGIN = 0.06          # y margins, as shares of the data span, on either side
LOOSE = 0.7              # refit a range once the data spans less than this share of it
WIDE = 760               # grid width (px) from which plots sit 3 to a row rather than 2
PLOT_MIN_H = 130         # 3 rows of base plots fit above the fold of a 1024x700 window


def settle_range(view: tuple[float, float] | None, lo: float, hi: float, pad_lo: float, pad_hi: float,
                 loose: float = LOOSE) -> tuple[float, float] | None:
    """A new (lo, hi) view range for data spanning [lo, hi], or None if `view` still holds it snugly. The margins
    (shares of the data span) make the range step rather than creep: each change re-lays out and repaints the
    axes, which costs more than the curves on a software rasteriser."""
    span = hi - lo
    if span <= 0:                                   # one point or a constant series: a band around it
        span = 0.1 * max(abs(hi), 1.0)
    if view is not None and view[0] <= lo and hi <= view[1] and span >= loose * (view[1] - view[0]):
        return None
    return lo - pad_lo * span, hi + pad_hi * span


def group_of(key: str) -> str:
    if key in PAIRED:
        return PAIRED[key]
    if key == "eval/accuracy" or key.startswith("eval/acc_"):
        return ACCURACY
    if key.startswith("eval/"):
        return "Eval: " + TITLES.get(key[5:], key[5:].replace("_", " "))
    name = key.split("/", 1)[0]
    return TITLES.get(name) or name.replace("_", " ").capitalize()


def curve_name(key: str) -> str:
    if key == "eval/accuracy":
        return "all tasks"
    if key.startswith("eval/acc_"):
        return key[9:].replace("_", " ")
    if key.startswith("expert_load/"):
        return f"expert {key[12:]}"
    return key.split("/")[-1].replace("_", " ")


class _Cell(QWidget):
    """A grid cell whose size hint does not change when its plot arrives: the grid keeps its row heights, so
    placing one plot repaints that plot only, not its neighbours."""

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(300, 200)


class PlotGrid(QWidget):
    def __init__(self, state: RunState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.plots: dict[str, pg.PlotWidget] = {}         # plot group -> its plot, once built
        self.cells: dict[str, QWidget] = {}               # plot group -> its grid cell (label + plot)
        self.headers: dict[str, QLabel] = {}              # plot group -> the title and legend above its plot
        self.order: list[str] = []                        # plot groups in grid order
        self.titles: dict[str, str] = {}
        self.members: dict[str, list[str]] = {}          # plot group -> curve keys
        self._specs: dict[str, list[tuple]] = {}          # plot group -> curves to add once its plot is built
        self._unbuilt: list[str] = []                     # groups whose cell waits for its plot (one per turn)
        self._seen: dict[str, int] = {}                   # plot group -> state revision last drawn
        self._tick = 0
        self._last_other = -1                             # position among the built plots of the last other drawn
        self.legend: dict[str, list[tuple[str, str]]] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}    # series key (or "loss_smooth") -> curve
        self._drawn: dict[str, int] = {}                  # curve key -> series length at its last draw
        self.follow: dict[str, bool] = {}                 # plot group -> x shows the whole run (no user zoom)
        self._setting_range = False
        self._mem_kind = None
        self._columns = 0
        self._builder = QTimer(self, singleShot=True, interval=0)   # owned: it dies with the grid
        self._builder.timeout.connect(self._build_next)

        self.log_scale = QCheckBox(self.tr("Log scale"))
        self.log_scale.setObjectName("logScale")
        self.log_scale.setToolTip(self.tr("Show the loss on a logarithmic axis"))
        self.log_scale.toggled.connect(self._on_log_toggled)
        self.smoothing = QSlider(Qt.Orientation.Horizontal)
        self.smoothing.setObjectName("smoothing")
        self.smoothing.setRange(0, 100)
        self.smoothing.setValue(30)
        self.smoothing.setMaximumWidth(200)
        self.smoothing.setToolTip(self.tr("Moving-average window of the smoothed training loss"))
        self.smoothing.valueChanged.connect(self._on_smoothing_changed)
        x_note = QLabel(self.tr("x axis: training step"))
        x_note.setObjectName("hintLabel")
        controls = QHBoxLayout()
        controls.addWidget(self.log_scale)
        controls.addSpacing(16)
        controls.addWidget(QLabel(self.tr("Smoothing")))
        controls.addWidget(self.smoothing)
        controls.addStretch(1)
        controls.addWidget(x_note)
        self.grid = QGridLayout()
        self.grid.setSpacing(6)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(controls)
        lay.addLayout(self.grid, 1)

        for key, title in BASE_PLOTS:
            self._add_plot(key, title)
        self._add_curve("loss", "loss", "train", PALETTE[0], alpha=70)
        self._add_curve("loss", "loss_smooth", "train (smoothed)", PALETTE[0])
        self._add_curve("loss", "val_loss", "val", PALETTE[1], symbol=True)
        self._add_curve("lr", "lr", "lr", PALETTE[2])
        self._add_curve("grad_norm", "grad_norm", "grad norm", PALETTE[3])
        self._add_curve("tokens_per_s", "tokens_per_s", "tokens/s", PALETTE[4])
        for i, key in enumerate(MEMORY_KEYS):
            self._add_curve("memory", key, key.split("_", 1)[1], PALETTE[5 + i])
        self.base_memory_legend = list(self.legend.get("memory", []))

        state.series_added.connect(self._on_series_added)
        state.reloaded.connect(self._on_reloaded)
        for key in list(state.series):
            self._on_series_added(key)
        self.timer = QTimer(self, interval=REFRESH_MS)
        self.timer.timeout.connect(self._on_timer)
        self.timer.start()

    # ------------------------------------------------------------------ building
    @property
    def building(self) -> bool:
        """Some plots are still waiting to be built (one per event-loop turn)."""
        return bool(self._unbuilt)

    def _add_plot(self, group: str, title: str) -> None:
        """A grid cell for `group` now; its plot on a later event-loop turn. A pyqtgraph plot costs 20-40 ms to
        build and as much to paint first: several at once (the task plots of a first eval, a whole monitor)
        froze the UI for up to 0.9 s, one per turn never stalls it for long."""
        cell = _Cell()
        cell.setObjectName(f"cell:{group}")
        cell.setMinimumHeight(PLOT_MIN_H)
        cell.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        header = QLabel()
        header.setObjectName("plotHeader")
        header.setWordWrap(True)
        header.setTextFormat(Qt.TextFormat.RichText)
        box = QVBoxLayout(cell)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(0)
        box.addWidget(header)
        self.cells[group] = cell
        self.headers[group] = header
        self.titles[group] = title
        self.follow[group] = True
        if group == ACCURACY:   # right after the base plots, before the stage metrics
            self.order.insert(len(BASE_PLOTS), group)
        else:
            self.order.append(group)
        self._retitle(group)
        self._reflow(force=True)
        self._unbuilt.append(group)
        self._builder.start()

    def _build_next(self) -> None:
        """Create the next plot on one turn and put it in its cell (layout and first paint) on the next."""
        if not self._unbuilt:
            return
        group = self._unbuilt[0]
        if group in self.plots:
            self._unbuilt.pop(0)
            self._place(group)
        else:
            self._create(group)
        if self._unbuilt:
            self._builder.start()

    def _create(self, group: str) -> None:
        w = pg.PlotWidget(self.cells[group])    # hidden until placed; dies with its cell
        w.setObjectName(f"plot:{group}")
        self.plots[group] = w
        w.showGrid(x=True, y=True, alpha=0.25)
        w.setMinimumHeight(PLOT_MIN_H - 30)
        w.setMouseEnabled(x=True, y=False)
        # Ranges are ours (_fit_ranges): pyqtgraph's auto-range re-ranged, and so re-laid out the axes, on every
        # new point, in the paint itself, which then asked for a second paint. Re-enabling it (the "A" button,
        # the menu, a log toggle) means "follow the whole run again"; a mouse zoom or pan means "stop following".
        vb = w.getViewBox()
        vb.disableAutoRange()
        vb.sigRangeChangedManually.connect(lambda _mask, g=group: self._on_zoomed(g))
        vb.sigXRangeChanged.connect(lambda _vb, _r, g=group: self._on_x_range_changed(g))
        vb.sigStateChanged.connect(lambda _vb, g=group: self._on_view_state_changed(g))
        for side in ("left", "bottom"):
            axis = w.getPlotItem().getAxis(side)
            axis.enableAutoSIPrefix(False)      # no "step (x0.001)": steps and metrics read as they are
            # Cache the axes (ticks, labels and the grid they draw) as pixmaps: replaying their QPicture cost
            # ~2 ms each per paint; now they are redrawn only when their range changes.
            axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        if group == ACCURACY:
            vb.setYRange(*ACCURACY_RANGE, padding=0)
        if group == "loss" and self.log_scale.isChecked():
            w.setLogMode(y=True)
        for spec in self._specs.pop(group, []):
            self._make_curve(group, *spec)

    def _place(self, group: str) -> None:
        self.cells[group].layout().addWidget(self.plots[group], 1)
        if group == "memory":
            self._mem_kind = None
        self._seen.pop(group, None)

    def build_all(self) -> None:
        """Build every waiting plot now (tests and screenshots)."""
        while self._unbuilt:
            self._build_next()

    def _reflow(self, force: bool = False) -> None:
        columns = 3 if self.width() >= WIDE else 2
        if columns == self._columns and not force:
            return
        self._columns = columns
        for group in self.order:
            self.grid.removeWidget(self.cells[group])
        for i, group in enumerate(self.order):
            self.grid.addWidget(self.cells[group], i // columns, i % columns)
        for c in range(3):
            self.grid.setColumnStretch(c, 1 if c < columns else 0)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._reflow()

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt's name
        # The wrapping headers give the grid a height-for-width, from which the scroll area would size it to the
        # plots' preferred heights (a screen and a half). The grid fills the view, and scrolls only below the
        # plots' minimum height.
        return False

    def heightForWidth(self, _width: int) -> int:  # noqa: N802
        return -1

    def _add_curve(self, group: str, key: str, name: str, colour: str, alpha: int = 255, symbol: bool = False):
        if alpha == 255:
            self.legend.setdefault(group, []).append((name, colour))
            self._retitle(group)
        self.members.setdefault(group, []).append(key)
        self._seen.pop(group, None)
        if group in self.plots:
            self._make_curve(group, key, name, colour, alpha, symbol)
        else:
            self._specs.setdefault(group, []).append((key, name, colour, alpha, symbol))

    def _make_curve(self, group: str, key: str, name: str, colour: str, alpha: int, symbol: bool) -> None:
        c = pg.mkColor(colour)
        c.setAlpha(alpha)
        # Width-1 cosmetic pens without antialiasing: wide or antialiased pens make the software rasteriser
        # spend hundreds of ms per frame on long curves (see bench/ui_latency.py).
        kwargs = {"pen": pg.mkPen(c, width=1), "name": name, "antialias": False}
        if symbol or group == ACCURACY:     # evals are sparse: show each one
            kwargs.update(symbol="o", symbolSize=5 if group == ACCURACY else 6, symbolBrush=c, symbolPen=None)
        # No clipToView / auto-downsampling: with x auto-range they fed back into each other (the x bounds of the
        # downsampled data moved the view, which moved the clip...) and repainted the plot on every loop pass.
        self.curves[key] = self.plots[group].plot(**kwargs)

    def _retitle(self, group: str) -> None:
        """Title and legend as a wrapping label over the plot. (pyqtgraph's LegendItem crashed PySide 6.12 in
        paint, and a title inside the plot is clipped when the plot is narrow.)"""
        names = self.legend.get(group, [])
        keys = " ".join(f"<span style='color:{c}'>━</span>&nbsp;{nowrap(plot_text(n))}" for n, c in names) \
            if len(names) > 1 else ""
        title = html.escape(plot_text(self.titles[group]))
        header = self.headers[group]
        header.setText(f"<b>{title}</b>" + (f" &nbsp; <small>{keys}</small>" if keys else ""))
        header.setToolTip(plot_text(self.titles[group])
                          + (": " + ", ".join(plot_text(n) for n, _ in names) if len(names) > 1 else ""))

    def _on_series_added(self, key: str) -> None:
        if key in BASE_KEYS or key in self.curves or key in self.members.get(group_of(key), ()):
            return
        group = group_of(key)
        if group not in self.cells:
            self._add_plot(group, ACCURACY_TITLE if group == ACCURACY else group)
        n = len(self.legend.get(group, ()))
        self._add_curve(group, key, curve_name(key), PALETTE[n % len(PALETTE)],
                        symbol=key.startswith("eval/"))  # evals are sparse: a dot each

    # ------------------------------------------------------------------ drawing
    def _on_reloaded(self) -> None:
        for key in list(self.state.series):     # a replay announces no series one by one
            self._on_series_added(key)
        self._seen.clear()          # redrawn one plot per tick (_on_timer), not all in this turn
        self.follow = dict.fromkeys(self.cells, True)

    def _on_log_toggled(self, on: bool) -> None:
        if "loss" in self.plots:
            self.plots["loss"].setLogMode(y=on)
        self._seen.pop("loss", None)

    def _on_smoothing_changed(self, _value: int) -> None:
        self._seen.pop("loss", None)

    def smoothing_window(self, n: int) -> int:
        v = self.smoothing.value()
        return max(1, int(round((v / 100) ** 2 * max(10, n / 5))))

    def _on_zoomed(self, group: str) -> None:
        """A mouse zoom or pan: stop following the run and redraw now from the visible slice, at full detail."""
        self.follow[group] = False
        self._redraw(group)

    def _on_x_range_changed(self, group: str) -> None:
        if not self._setting_range and not self.follow[group]:    # e.g. a range typed into the context menu
            self._redraw(group)

    def _on_view_state_changed(self, group: str) -> None:
        vb = self.plots[group].getViewBox()
        if any(a is not False for a in vb.autoRangeEnabled()):
            vb.disableAutoRange()
            self.follow[group] = True
            self._redraw(group)

    def _redraw(self, group: str) -> None:
        self._seen.pop(group, None)
        self.refresh([group])

    def showEvent(self, event) -> None:
        self._seen.clear()          # hidden plots were not drawn (see _on_timer): catch up on the next ticks
        super().showEvent(event)

    def _on_timer(self) -> None:
        """Redraw one plot per tick: the loss first, then the others that have not drawn the newest data, in
        turn. Painting every plot in one event-loop pass stalls it for tens of ms on a software rasteriser;
        spreading it keeps the UI responsive. Only stale plots take a tick: a fixed rotation spent half the ticks
        on the loss and the rest on plots already drawn, so with a dozen plots and a step a second the others
        showed a step only when the next arrived. A hidden grid (another monitor tab, another page) draws
        nothing."""
        if not self.isVisible() or not self.plots:
            return
        groups = [g for g in self.order if g in self.plots]
        stale = [g for g in groups if self._seen.get(g) != self.state.revision]
        if not stale:
            return
        self._tick += 1
        others = [g for g in stale if g != groups[0]]
        if not others or (stale[0] == groups[0] and self._tick % 2 == 0):   # the loss: at least every other tick
            self.refresh(groups[:1])
            return
        after = [g for g in others if groups.index(g) > self._last_other] or others   # the rest in turn
        self._last_other = groups.index(after[0])
        self.refresh(after[:1])

    def refresh(self, groups: list[str] | None = None) -> None:
        """Push the newest data into the curves of `groups` (all by default) that changed since their last draw."""
        s = self.state
        for group in groups or list(self.plots):
            if group not in self.plots or self._seen.get(group) == s.revision:
                continue
            self._seen[group] = s.revision
            drawn = [xy for key in self.members.get(group, ()) if (xy := self._draw(group, key)) is not None]
            if drawn:
                self._fit_ranges(group, drawn)
        self._update_memory_title()

    def _fit_ranges(self, group: str, drawn: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Fit y to what is drawn (the whole run, or the zoomed-in slice) and, when following, x to the run."""
        vb = self.plots[group].getViewBox()
        (vx, vy) = vb.viewRange()
        ys = np.concatenate([y for _, y in drawn])
        if group == "loss" and self.log_scale.isChecked():
            ys = np.log10(ys[ys > 0])               # view coordinates of a log axis
        ys = ys[np.isfinite(ys)]
        self._setting_range = True
        try:
            if self.follow[group]:
                # from step 0 to the run's last step, in every plot: their x axes line up, and a first eval at
                # one step spans the run rather than a sliver around that step
                xs = np.concatenate([x for x, _ in drawn])
                lo, hi = min(0.0, float(xs.min())), max(float(xs.max()), float(self.state.step), 1.0)
                new = settle_range(tuple(vx), lo, hi, 0.01, X_HEADROOM)
                if new is not None:
                    vb.setXRange(*new, padding=0)
            if group == ACCURACY:                   # accuracy keeps its 0-100% axis
                if tuple(vy) != ACCURACY_RANGE:
                    vb.setYRange(*ACCURACY_RANGE, padding=0)
            elif len(ys):
                new = settle_range(tuple(vy), float(ys.min()), float(ys.max()), Y_MARGIN, Y_MARGIN)
                if new is not None:
                    vb.setYRange(*new, padding=0)
        finally:
            self._setting_range = False

    def _draw(self, group: str, key: str) -> tuple[np.ndarray, np.ndarray] | None:
        series = self.state.series.get("loss" if key == "loss_smooth" else key)
        if series is None or not len(series):
            return None
        vb = self.plots[group].getViewBox()
        if self.follow[group]:          # the whole run
            idx = series.envelope()
        else:                           # zoomed or panned: the visible slice, at full detail when it is short
            x0, x1 = vb.viewRange()[0]
            idx = series.window(x0, x1, 2 * MAX_BUCKETS)
        if key == "loss_smooth":
            # the moving average at the drawn indices (2 per bucket): at the default setting its window spans
            # ~10-20 buckets, so it barely moves within one and these samples trace it faithfully
            y = series.moving_average(idx, self.smoothing_window(len(series)))
        else:
            y = series.y[idx]
        if key in MEMORY_KEYS:
            y = y * MIB
        elif group == ACCURACY:
            y = y * 100
        if key in ("loss", "loss_smooth", "val_loss") and self.log_scale.isChecked():
            y = np.where(y > 0, y, np.nan)
        self._drawn[key] = len(series)
        x = series.x[idx]
        self.curves[key].setData(x, y, skipFiniteCheck=bool(np.isfinite(y).all()))
        return x, y

    def _update_memory_title(self) -> None:
        s = self.state
        if s.mem_kind == self._mem_kind or "memory" not in self.plots:
            return
        self._mem_kind = s.mem_kind
        self.titles["memory"] = ("GPU memory (MiB)" if s.mem_kind == "cuda" else
                                 ("MPS memory (MiB)" if s.mem_kind == "mps" else "Process memory, RSS (MiB)"))
        rss = s.mem_kind == "rss"  # on the CPU "allocated" and "reserved" are both the process's RSS: show it once
        self.curves["mem_reserved"].setVisible(not rss)
        names = {"allocated": "RSS", "peak": "peak RSS"} if rss else {}
        self.legend["memory"] = [(names.get(n, n), c) for n, c in self.base_memory_legend
                                 if not (rss and n == "reserved")]
        self._retitle("memory")

    def point_count(self, key: str = "loss") -> int:
        """How many points of its series the curve of `key` showed at its last draw (tests and the bench)."""
        return self._drawn.get(key, 0)

    def shown_count(self, key: str = "loss") -> int:
        """How many (reduced) points the curve of `key` hands pyqtgraph."""
        curve = self.curves.get(key)
        return 0 if curve is None or curve.xData is None else len(curve.xData)
