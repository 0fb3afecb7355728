"""Runs page comparison: several selected runs open one plot with each run's train and val loss overlaid and a legend
naming every run; the events are read off the UI thread (nothing is loaded when set_runs returns, even for a run of
tens of thousands of steps), and a run whose events cannot be read is named in the legend instead of plotted."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
from PySide6.QtCore import QItemSelectionModel

from studio.models.runs_table import RunsTableModel
from studio.views.runs_view import RunsView


def make_run(root, name: str, steps: int, scale: float, t0: float) -> None:
    d = root / name
    d.mkdir(parents=True)
    (d / "run.yaml").write_text("stage:\n  name: sft\n")
    lines = [{"event": "hello", "t": t0, "pid": 999_999_999}]
    for s in range(1, steps + 1):
        lines.append({"event": "step", "t": t0 + s, "step": s, "total_steps": steps, "loss": scale * (1 + 5 / s)})
        if s % (steps // 4) == 0:
            lines.append({"event": "eval", "t": t0 + s, "step": s, "val_loss": scale * (1.2 + 5 / s), "metrics": {}})
    lines.append({"event": "done", "t": t0 + steps + 1, "status": "completed", "summary": {"steps": steps}})
    (d / "events.jsonl").write_text("".join(json.dumps({"v": 1, **e}) + "\n" for e in lines))


def test_selected_runs_overlay_their_loss_curves(qtbot, tmp_path):
    runs = tmp_path / "runs"
    make_run(runs, "sft-alone", 200, 1.0, 1000.0)
    make_run(runs, "distilled", 200, 0.8, 2000.0)
    make_run(runs, "long-run", 40_000, 0.9, 3000.0)       # ~3 MB of events
    make_run(runs, "broken", 10, 1.0, 4000.0)
    model = RunsTableModel(runs)
    view = RunsView(model)
    qtbot.addWidget(view)
    view.resize(1000, 500)
    view.show()
    with qtbot.waitSignal(model.refreshed, timeout=20_000):
        model.refresh()
    assert not view.compare.isEnabled()
    selection = view.table.selectionModel()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    for name in ("sft-alone", "distilled", "long-run", "broken"):
        row = view.proxy.mapFromSource(model.index(model.find(str(runs / name)), 0))
        selection.select(row, flags)
    assert view.compare.isEnabled() and view.selected() is None     # one-run actions wait for one run
    assert not view.open.isEnabled() and not view.delete.isEnabled()
    shutil.rmtree(runs / "broken")                                  # gone between the scan and the click

    view.compare.click()
    overlay = view.overlay
    assert overlay is not None and overlay.isVisible()
    assert overlay.loaded == {} and overlay.pending() == 4          # read by workers, not in the click
    qtbot.waitUntil(lambda: overlay.pending() == 0, timeout=60_000)

    assert set(overlay.loaded) == {str(runs / n) for n in ("sft-alone", "distilled", "long-run")}
    assert "events.jsonl" in overlay.failed[str(runs / "broken")]
    names = {c.name() for items in overlay.curves.values() for c in items}
    assert names == {f"{n} · {k}" for n in ("sft-alone", "distilled", "long-run") for k in ("train", "val")}
    legend = overlay.legend.text()
    assert all(n in legend for n in ("sft-alone", "distilled", "long-run", "broken")) and "cannot read" in legend
    assert "No such file" in overlay.legend.toolTip()

    train, val = overlay.curves[str(runs / "distilled")]
    x, y = train.getData()
    assert np.array_equal(x, np.arange(1, 201)) and math.isclose(y[0], 0.8 * 6)
    vx, vy = val.getData()
    assert list(vx) == [50, 100, 150, 200] and math.isclose(vy[-1], 0.8 * (1.2 + 5 / 200))
    long_x, _ = overlay.curves[str(runs / "long-run")][0].getData()
    assert len(long_x) <= 4098 and long_x[-1] == 40_000           # drawn from the envelope, up to the last step
    overlay.grab().save(str(tmp_path.parent / "runs_compare.png"))

    # a new selection replaces the plot
    selection.clearSelection()
    for name in ("sft-alone", "distilled"):
        selection.select(view.proxy.mapFromSource(model.index(model.find(str(runs / name)), 0)), flags)
    view.compare.click()
    qtbot.waitUntil(lambda: overlay.pending() == 0, timeout=60_000)
    assert len(overlay.curves) == 2 and "long-run" not in overlay.legend.text()
