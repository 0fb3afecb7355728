"""A run whose set-up failed before its first step (here: a data file with no records, with the real engine)
is marked in Runs as "failed before training: <reason>" and deleted with one click, no question asked; a run
that trained keeps the usual question."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from studio.models.run_scan import scan_run
from studio.models.runs_table import RunsTableModel
from studio.views.runs_view import RunsView


@pytest.mark.timeout(300)
def test_failed_start_is_marked_and_deleted_in_one_click(qtbot, tmp_path):
    ws = tmp_path / "ws"
    empty = tmp_path / "gone.jsonl"
    empty.write_text("\n\n", encoding="utf-8")  # there, but no records: found while the run is set up
    out = subprocess.run([sys.executable, "-m", "engine.cli", "--workspace", str(ws), "train", "--data",
                          str(empty), "--max-steps", "2"], capture_output=True, text=True, timeout=240)
    assert out.returncode != 0 and "gone.jsonl" in out.stderr
    (folder,) = (ws / "runs").iterdir()
    info = scan_run(folder)
    assert info.status == "failed" and info.failed_before_training and "gone.jsonl is empty" in info.error

    model = RunsTableModel(ws / "runs")
    view = RunsView(model)
    qtbot.addWidget(view)
    with qtbot.waitSignal(model.refreshed, timeout=20_000):
        model.refresh()
    status = model.data(model.index(0, 2))
    assert status == "failed before training: gone.jsonl is empty"     # the folder is in the tooltip
    assert "is empty" in model.data(model.index(0, 0), Qt.ItemDataRole.ToolTipRole)
    assert view.select_path(str(folder))
    assert view.delete.isEnabled() and view.delete.text() == "Delete failed start"
    with qtbot.waitSignal(model.refreshed, timeout=20_000):
        qtbot.mouseClick(view.delete, Qt.MouseButton.LeftButton)   # no dialog: it would block this test
    assert not Path(folder).exists() and model.rowCount() == 0


def test_a_run_that_trained_is_not_a_failed_start(tmp_path):
    folder = tmp_path / "runs" / "20261130-000000-pretrain"
    folder.mkdir(parents=True)
    (folder / "events.jsonl").write_text(
        '{"v":1,"event":"hello","t":1,"pid":1}\n{"v":1,"event":"step","t":2,"step":3,"total_steps":9}\n'
        '{"v":1,"event":"error","t":3,"message":"out of memory"}\n'
        '{"v":1,"event":"done","t":4,"status":"failed","summary":{}}\n')
    info = scan_run(folder)
    assert info.status == "failed" and info.error == "out of memory" and not info.failed_before_training
