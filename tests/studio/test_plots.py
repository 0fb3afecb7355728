"""PlotGrid over a long run: every series drawn from a bounded reduction, the whole run in view, smoothing and log
scale applied, a zoom showing full detail and the auto-range button following the run again, hidden grids idle."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from engine.protocol import Event
from studio.models.run_state import RunState
from studio.models.series import MAX_BUCKETS, smooth
from studio.views.plots import BASE_KEYS, PlotGrid, settle_range

N = 20_000


def step(i: int) -> Event:
    return Event("step", 1.0, {"step": i, "total_steps": 2 * N, "loss": 6.0 * 0.9999**i + 0.05 * ((i * 7919) % 13),
                               "lr": 3e-3, "grad_norm": 1.0 + (i % 17) / 17, "tokens_per_s": 2e4 + i % 1000,
                               "mem_allocated": 2**30, "mem_reserved": 2**30 + 2**28, "mem_peak": 2**31,
                               "mem_kind": "cuda"})


@pytest.fixture
def grid(qtbot):
    state = RunState("plots")
    state.apply_many([step(i) for i in range(1, N + 1)]
                     + [Event("eval", 1.0, {"step": i, "val_loss": 3.0}) for i in range(500, N + 1, 500)])
    g = PlotGrid(state)
    qtbot.addWidget(g)
    g.resize(1000, 700)
    g.show()
    qtbot.waitExposed(g)
    qtbot.waitUntil(lambda: not g.building, timeout=10_000)
    g.refresh()
    return g


def x_range(g: PlotGrid, group: str) -> list[float]:
    return g.plots[group].getViewBox().viewRange()[0]


def test_every_series_drawn_from_a_bounded_reduction_and_whole_run_in_view(grid):
    for key in BASE_KEYS | {"loss_smooth"}:
        assert grid.point_count(key) == (N // 500 if key == "val_loss" else N)
        assert 0 < grid.shown_count(key) <= 2 * MAX_BUCKETS + 2
    loss = grid.state.series["loss"]
    curve = grid.curves["loss"]
    assert curve.yData.max() == loss.y.max() and curve.yData.min() == loss.y.min()   # spikes and dips survive
    for group in grid.plots:
        lo, hi = x_range(grid, group)
        assert lo <= 1 and N <= hi <= 1.1 * N
    ylo, yhi = grid.plots["grad_norm"].getViewBox().viewRange()[1]
    assert ylo <= 1.0 and yhi >= 1.0 + 16 / 17                    # the true range, not a mean of it


def test_smoothing_slider_and_log_scale(grid):
    loss = grid.state.series["loss"]
    for value in (0, 10, 30, 100):
        grid.smoothing.setValue(value)
        grid.refresh()
        c = grid.curves["loss_smooth"]
        ref = smooth(loss.y, grid.smoothing_window(N))
        idx = c.xData.astype(int) - 1                              # x = step = index + 1
        np.testing.assert_allclose(c.yData, ref[idx], rtol=1e-9)
    grid.log_scale.setChecked(True)
    grid.refresh()
    assert grid.curves["loss"].opts["logMode"][1]
    ylo, yhi = grid.plots["loss"].getViewBox().viewRange()[1]     # log10 view coordinates
    assert ylo <= np.log10(loss.y.min()) and np.log10(loss.y.max()) <= yhi < 1.5
    grid.log_scale.setChecked(False)
    grid.refresh()
    ylo, yhi = grid.plots["loss"].getViewBox().viewRange()[1]
    assert ylo <= loss.y.min() and loss.y.max() <= yhi


def wheel(g: PlotGrid, group: str, clicks: int) -> None:
    view = g.plots[group]
    pos = QPointF(view.viewport().width() / 2, view.viewport().height() / 2)
    for _ in range(clicks):
        ev = QWheelEvent(pos, QPointF(view.viewport().mapToGlobal(pos.toPoint())), QPoint(0, 0), QPoint(0, 120),
                         Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(view.viewport(), ev)


def test_zoom_shows_detail_then_auto_follows_the_run_again(grid):
    wheel(grid, "grad_norm", 40)                                   # ~0.8x per click: a few hundred steps in view
    lo, hi = x_range(grid, "grad_norm")
    assert not grid.follow["grad_norm"] and hi - lo < 2000
    c = grid.curves["grad_norm"]
    visible = (grid.state.series["grad_norm"].x >= lo) & (grid.state.series["grad_norm"].x <= hi)
    assert len(c.xData) == visible.sum() + 2                       # every point in view, plus one each side
    assert np.all(np.diff(c.xData) == 1)
    grid.state.apply(step(N + 1))                                  # new points do not move a zoomed view
    grid.refresh()
    assert x_range(grid, "grad_norm") == [lo, hi]
    grid.plots["grad_norm"].getPlotItem().autoBtnClicked()         # the "A" button
    assert grid.follow["grad_norm"]
    lo, hi = x_range(grid, "grad_norm")
    assert lo <= 1 and hi >= N + 1 and grid.shown_count("grad_norm") <= 2 * MAX_BUCKETS + 2


def test_followed_range_steps_instead_of_creeping(grid):
    before = x_range(grid, "loss")
    for i in range(N + 1, N + 50):
        grid.state.apply(step(i))
        grid.refresh(["loss"])
    assert x_range(grid, "loss") == before                        # inside the headroom: no re-range per point
    assert settle_range((0.0, 10.0), 1.0, 9.0, 0.05, 0.05) is None
    assert settle_range((0.0, 10.0), 1.0, 11.0, 0.05, 0.05) == pytest.approx((0.5, 11.5))
    assert settle_range((0.0, 10.0), 4.0, 5.0, 0.05, 0.05) == pytest.approx((3.95, 5.05))   # too loose: refit
    lo, hi = settle_range(None, 1024.0, 1024.0, 0.05, 0.05)        # a constant series gets a band around it
    assert lo < 1024.0 < hi


def test_hidden_grid_does_not_draw(qtbot):
    state = RunState("hidden")
    state.apply_many([step(i) for i in range(1, 101)])
    g = PlotGrid(state)
    qtbot.addWidget(g)
    for _ in range(4):
        g._on_timer()
    assert g.point_count("loss") == 0
    g.show()
    qtbot.waitExposed(g)
    qtbot.waitUntil(lambda: g.point_count("loss") == 100, timeout=2000)
