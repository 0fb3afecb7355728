"""Every plot of the Monitor shows the newest step within one refresh round: after an event, as many timer ticks as
there are plots draw each of them up to the event's step (a fixed rotation spent half its ticks on the loss and
left the other plots a step behind until the next event came)."""

from __future__ import annotations

from engine.protocol import Event
from studio.models.run_state import RunState
from studio.views.plots import PlotGrid

STAGE_METRICS = ("chosen_reward", "rejected_reward", "kl", "pref_accuracy", "reward_mean", "entropy", "value_loss",
                 "clip_fraction")


def step(i: int) -> Event:
    return Event("step", 1.0, {"step": i, "total_steps": 100, "loss": 5.0 - 0.01 * i, "lr": 1e-3 * i,
                               "grad_norm": 1.0 + i % 3, "tokens_per_s": 1e4 + i, "mem_allocated": 2**20 * i,
                               "mem_reserved": 2**21, "mem_peak": 2**22, "mem_kind": "cuda",
                               **{k: 0.1 * i for k in STAGE_METRICS}})


def test_every_plot_draws_the_last_step_within_one_round(qtbot):
    state = RunState("latency")
    state.apply(step(1))
    grid = PlotGrid(state)
    qtbot.addWidget(grid)
    grid.resize(1000, 700)
    grid.show()
    qtbot.waitExposed(grid)
    qtbot.waitUntil(lambda: not grid.building, timeout=20_000)
    grid.timer.stop()                               # the test ticks the timer itself
    groups = [g for g in grid.order if g in grid.plots]
    assert len(groups) >= 10
    for i in range(2, 6):
        state.apply(step(i))
        state.apply(Event("log", 1.0, {"level": "info", "message": f"after step {i}"}))
        for _ in range(len(groups)):
            grid._on_timer()
        for key, curve in grid.curves.items():
            if key == "val_loss" or curve.xData is None:
                continue
            assert float(curve.xData[-1]) == i, f"{key} shows step {curve.xData[-1]} after step {i}"
