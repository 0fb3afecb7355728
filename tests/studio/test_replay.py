"""Opening a run from its events.jsonl: the history is parsed and applied in a worker and handed to the monitor's
RunState in one piece (one `reloaded`, the same state a live feed builds), plots of replayed stage metrics appear,
and a line the engine was still writing is neither lost nor applied twice once the session follows the file."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from engine.protocol import Event
from studio.models.run_state import RunState
from studio.run_session import RunSession
from studio.views.monitor import MonitorView
from studio.views.plots import ACCURACY

TASKS = ("add", "copy")


def events(steps: int, pid: int = 0, done: bool = True) -> list[dict]:
    out = [{"v": 1, "event": "hello", "t": 1.0, "pid": pid, "device": "CPU", "run_dir": "/runs/replayed"},
           {"v": 1, "event": "config", "t": 1.0, "config": {"run": {"max_steps": steps}}, "params": 10}]
    for i in range(1, steps + 1):
        out.append({"v": 1, "event": "step", "t": 1.0 + i, "step": i, "total_steps": steps, "epoch": i / 100,
                    "loss": 5.0 / i, "lr": 1e-3, "grad_norm": 1.0, "tokens_per_s": 100.0, "mem_kind": "rss"})
        if i % 1000 == 0:
            out.append({"v": 1, "event": "eval", "t": 1.0 + i, "step": i, "val_loss": 4.0 - i / 1000,
                        "metrics": {"accuracy": i / steps, **{f"acc_{t}": i / steps / 2 for t in TASKS}}})
            out.append({"v": 1, "event": "sample", "t": 1.0 + i, "step": i, "prompt": "The", "completion": "end"})
            out.append({"v": 1, "event": "checkpoint", "t": 1.0 + i, "step": i, "path": f"/c/{i}",
                        "reason": "periodic"})
    if done:
        out.append({"v": 1, "event": "done", "t": 1.0 + steps, "status": "completed", "summary": {"steps": steps}})
    return out


def write(path, objs: list[dict], tail: str = "") -> None:
    path.write_text("".join(json.dumps(o) + "\n" for o in objs) + tail, encoding="utf-8")


def test_replay_builds_the_same_state_in_one_piece_and_plots_its_stage_metrics(qtbot, tmp_path):
    run = tmp_path / "replayed"
    run.mkdir()
    objs = events(5000)
    write(run / "events.jsonl", objs)
    reference = RunState("replayed")
    reference.apply_many([Event(o["event"], o["t"], {k: v for k, v in o.items() if k not in ("v", "event", "t")})
                          for o in objs])

    session = RunSession(RunState("replayed"))
    view = MonitorView(session)                       # as the Runs page opens it: the view exists first
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    reloads = []
    session.state.reloaded.connect(lambda: reloads.append(1))
    with qtbot.waitSignal(session.loaded, timeout=60_000):
        session.load(str(run), follow=False)
    state = session.state
    assert len(reloads) == 1, "the history arrives in one piece, not in slices"
    for attr in ("status", "step", "total_steps", "best_val", "samples", "checkpoints", "device", "params"):
        assert getattr(state, attr) == getattr(reference, attr), attr
    assert sorted(state.series) == sorted(reference.series)
    for key, series in reference.series.items():
        np.testing.assert_array_equal(state.series[key].x, series.x)
        np.testing.assert_array_equal(state.series[key].y, series.y)
    assert state.status == "completed"
    qtbot.waitUntil(lambda: not view.plots.building, timeout=10_000)
    view.plots.refresh()
    assert ACCURACY in view.plots.plots, "a replayed run shows its task accuracy"
    assert view.plots.point_count("eval/accuracy") == 5
    assert view.plots.point_count("loss") == 5000
    assert view.samples.count() == 5


def test_a_torn_last_line_is_finished_by_the_follower_and_applied_once(qtbot, tmp_path, request):
    run = tmp_path / "live"
    run.mkdir()
    # an engine that is alive (it holds the run's lock, as a real engine does) and still writing
    hold = ("import sys, time; from filelock import FileLock; lock = FileLock(sys.argv[1]); lock.acquire(); "
            "print('locked', flush=True); time.sleep(120)")
    engine = subprocess.Popen([sys.executable, "-c", hold, str(run / "run.lock")], stdout=subprocess.PIPE, text=True)
    request.addfinalizer(engine.kill)
    assert engine.stdout.readline().strip() == "locked"
    objs = events(30, pid=engine.pid, done=False)
    nxt = {"v": 1, "event": "step", "t": 99.0, "step": 31, "total_steps": 30, "loss": 0.1}
    line = json.dumps(nxt) + "\n"
    write(run / "events.jsonl", objs, tail=line[:20])  # caught mid-write
    session = RunSession(RunState("live"))
    with qtbot.waitSignal(session.loaded, timeout=30_000):
        session.load(str(run), follow=True)
    assert session.state.status == "running" and session.state.step == 30
    with open(run / "events.jsonl", "a", encoding="utf-8") as f:
        f.write(line[20:])
        f.write(json.dumps({**nxt, "step": 32, "loss": 0.05}) + "\n")
    qtbot.waitUntil(lambda: session.state.step == 32, timeout=10_000)
    assert session.state.series["loss"].x.tolist()[-3:] == [30.0, 31.0, 32.0], "each step once, none lost"
    session.close()
