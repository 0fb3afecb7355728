"""An MoE run's monitor plots expert load (one line per expert) and the router losses as the steps arrive; a dense
run shows none of them."""

from __future__ import annotations

import pytest

from engine.protocol import Event
from studio.models.run_state import RunState
from studio.views.plots import PlotGrid, group_of

E = 8
LOAD = "Expert load (share of routed tokens)"


def step(i: int, moe: bool = True) -> Event:
    data = {"step": i, "total_steps": 200, "loss": 5.0 * 0.99**i, "lr": 1e-3, "grad_norm": 1.0,
            "tokens_per_s": 1000.0, "mem_allocated": 2**28, "mem_reserved": 2**28, "mem_peak": 2**29, "mem_kind": "rss"}
    if moe:  # expert 0 takes more early on, then routing evens out
        skew = 0.3 * 0.97**i
        load = [1 / E + skew * (E - 1) / E] + [1 / E - skew / E] * (E - 1)
        data.update(aux_loss=1.0 + skew, z_loss=4.0 - i / 100, expert_load=load)
    return Event("step", 1.0 + i, data)


def grid_for(qtbot, state: RunState) -> PlotGrid:
    g = PlotGrid(state)
    qtbot.addWidget(g)
    g.resize(1000, 860)
    g.show()
    qtbot.waitExposed(g)
    return g


def test_expert_load_is_plotted_as_it_arrives_with_a_line_per_expert(qtbot):
    state = RunState("moe")
    g = grid_for(qtbot, state)
    for i in range(1, 41):
        state.apply(step(i))
    qtbot.waitUntil(lambda: not g.building and LOAD in g.plots, timeout=10_000)
    for i in range(41, 121):
        state.apply(step(i))
    g.build_all()
    g.refresh()
    qtbot.wait(50)
    assert group_of("expert_load/3") == LOAD
    assert g.members[LOAD] == [f"expert_load/{i}" for i in range(E)]
    header = g.headers[LOAD].text().replace("&nbsp;", " ")  # names never break across lines
    assert all(f"expert {i}" in header for i in range(E))
    curve = g.curves["expert_load/0"]
    assert len(curve.yData) == 120 and curve.yData[-1] == pytest.approx(state.series["expert_load/0"].last)
    assert "Load-balancing loss (1 = balanced)" in g.plots and "Router z-loss" in g.plots
    assert g.plots[LOAD].isVisible() and g.plots[LOAD].height() >= 90
    g.grab().save("/tmp/moe_plots.png")


def test_a_dense_run_has_no_expert_plots(qtbot):
    state = RunState("dense")
    state.apply_many([step(i, moe=False) for i in range(1, 30)])
    g = grid_for(qtbot, state)
    qtbot.waitUntil(lambda: not g.building, timeout=10_000)
    assert not any("xpert" in group or "Router" in group for group in g.plots)
