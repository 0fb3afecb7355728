"""Run folders -> RunInfo (completed, interrupted, checkpoints), the table model, and safe deletion."""

from __future__ import annotations

import json

import pytest

from studio.models.run_scan import delete_run, scan_run, scan_workspace
from studio.models.runs_table import RunsTableModel


def make_run(root, name, events, ckpt=None):
    d = root / "runs" / name
    d.mkdir(parents=True)
    (d / "run.yaml").write_text("stage:\n  name: sft\nrun:\n  max_steps: 10\n")
    (d / "events.jsonl").write_text("".join(json.dumps({"v": 1, **e}) + "\n" for e in events))
    if ckpt:
        step = d / "checkpoints" / ckpt
        step.mkdir(parents=True)
        (d / "checkpoints" / "latest").write_text(ckpt)
    return d


def test_completed_and_interrupted(tmp_path):
    done = make_run(tmp_path, "a", [
        {"event": "hello", "t": 100.0, "pid": 999_999_999},
        {"event": "step", "t": 110.0, "step": 5, "total_steps": 10},
        {"event": "eval", "t": 111.0, "step": 5, "val_loss": 3.25},
        {"event": "done", "t": 130.0, "status": "completed", "summary": {"steps": 10, "best_val_loss": 3.0}},
    ], ckpt="step-000010")
    gone = make_run(tmp_path, "b", [{"event": "hello", "t": 200.0, "pid": 999_999_999},
                                    {"event": "step", "t": 201.0, "step": 2, "total_steps": 10}, ], ckpt="step-000002")
    (gone / "events.jsonl").open("a").write('{"v": 1, "event": "st')   # torn last line
    a, b = scan_run(done), scan_run(gone)
    assert (a.status, a.stage, a.steps, a.best_val, a.duration_s) == ("completed", "sft", 10, 3.0, 30.0)
    assert a.latest_ckpt.endswith("step-000010") and a.checkpoint == a.latest_ckpt
    assert b.status == "interrupted" and b.steps == 2
    assert [r.name for r in scan_workspace(tmp_path / "runs")] == ["b", "a"]


def test_table_model(qtbot, tmp_path):
    make_run(tmp_path, "a", [{"event": "hello", "t": 1.0}, {"event": "done", "t": 61.0, "status": "stopped",
                                                             "summary": {"steps": 3}}])
    model = RunsTableModel(tmp_path / "runs")
    with qtbot.waitSignal(model.refreshed, timeout=5000):
        model.refresh()
    assert model.rowCount() == 1 and model.columnCount() == 7
    row = [model.data(model.index(0, c)) for c in range(7)]
    assert row[0] == "a" and row[2] == "stopped" and row[5] == "1m 00s"
    model.set_live_status(str(tmp_path / "runs" / "a"), "running")
    assert model.data(model.index(0, 2)) == "running"


def test_delete_only_inside_runs(tmp_path):
    d = make_run(tmp_path, "a", [])
    with pytest.raises(ValueError):
        delete_run(tmp_path, tmp_path / "runs")          # not a folder directly inside runs/
    delete_run(d, tmp_path / "runs")
    assert not d.exists()
