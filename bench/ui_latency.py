"""UI-latency benchmark: the longest stall of the Qt event loop in three scenes, one JSON line each.

    QT_QPA_PLATFORM=offscreen python bench/ui_latency.py [--scene stream|eval|open|all] [--rate 200]
        [--points 100000] [--seconds 15]

A 5 ms heartbeat timer measures how late the event loop gets to it.
- stream (target 50 ms): the run is pre-filled so the plots hold `--points` points by the end; then `--rate` step
  events per second are parsed from protocol lines and applied on the UI thread, as the EngineClient does. Paints
  of each plot are counted, so a monitor that stopped redrawing could not pass.
- eval (target 100 ms): a live monitor receives its first eval event with task accuracies (overall and per
  task family, as the engine sends them): the stall while their plot appears and draws.
- open (target 100 ms): a `--points`-step run's events.jsonl (with evals, samples and checkpoints) is opened as
  the Runs page does: from the click until the monitor has drawn the whole run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

HEARTBEAT_MS = 5
FEED_MS = 20


def step_line(step: int, total: int) -> str:
    loss = 6.0 * (0.999 ** (step / 50)) + 0.05 * ((step * 7919) % 13) / 13
    return json.dumps({"v": 1, "event": "step", "t": time.time(), "step": step, "total_steps": total,
                       "epoch": step / 5e4,
                       "loss": loss, "lr": 3e-3, "grad_norm": 1.0 + (step % 17) / 17, "tokens_seen": step * 4096,
                       "tokens_per_s": 20000.0 + step % 1000, "eta_s": 100.0, "mem_allocated": 2**30,
                       "mem_reserved": 2**30 + 2**28, "mem_peak": 2**31, "mem_kind": "cuda"})


TASKS = ("add", "sub", "mul", "count", "copy", "reverse", "unit")


def eval_event(step: int) -> dict:
    """An eval event as the engine sends it with task items: overall accuracy and one per task family."""
    acc = min(1.0, step / 1e5)
    metrics = {"accuracy": acc, **{f"acc_{t}": acc * (i + 1) / len(TASKS) for i, t in enumerate(TASKS)}}
    return {"v": 1, "event": "eval", "t": time.time(), "step": step, "val_loss": 3.0, "ppl": 20.0, "metrics": metrics}


class Heartbeat:
    """A 5 ms precise timer; `stall_ms` is how much later than due the event loop ran it, at worst."""

    def __init__(self):
        from PySide6.QtCore import Qt, QTimer
        self.gaps: list[float] = []
        self.last = time.perf_counter()
        self.timer = QTimer(interval=HEARTBEAT_MS, timerType=Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._on_beat)
        self.timer.start()

    def _on_beat(self) -> None:
        now = time.perf_counter()
        self.gaps.append((now - self.last) * 1000)
        self.last = now

    def reset(self) -> None:
        self.gaps.clear()
        self.last = time.perf_counter()

    def figures(self, skip: int = 0) -> dict:
        gaps = sorted(self.gaps[skip:]) or [0.0]
        return {"max_stall_ms": round(max(0.0, gaps[-1] - HEARTBEAT_MS), 1),
                "p99_gap_ms": round(gaps[int(0.99 * (len(gaps) - 1))], 1),
                "median_gap_ms": round(gaps[len(gaps) // 2], 1), "heartbeat_ms": HEARTBEAT_MS}


def run_for(app, seconds: float, until=None) -> float:
    """Spin the event loop for `seconds` (or until `until()` is true); the time it took."""
    start = time.perf_counter()
    while time.perf_counter() - start < seconds and not (until and until()):
        app.processEvents()
        time.sleep(0.001)
    return time.perf_counter() - start


def scene_stream(app, args) -> dict:
    from PySide6.QtCore import QEvent, QObject, QTimer

    from engine.protocol import Event, parse_event
    from studio.models.run_state import RunState
    from studio.run_session import RunSession
    from studio.views.monitor import MonitorView
    state = RunState("ui-latency")
    streamed = int(args.rate * args.seconds)
    preload = max(0, args.points - streamed)
    total = preload + streamed
    state.apply(Event("hello", time.time(), {"run_dir": "/bench/ui-latency", "device": "bench"}))
    state.apply_many([parse_event(step_line(s, total)) for s in range(1, preload + 1)])
    view = MonitorView(RunSession(state))
    view.resize(1280, 820)
    view.show()
    run_for(app, 10.0, until=lambda: not view.plots.building)

    frames = dict.fromkeys(view.plots.plots, 0)

    class PaintCounter(QObject):
        def eventFilter(self, obj, ev):
            if ev.type() == QEvent.Type.Paint:
                frames[obj.parent().objectName().removeprefix("plot:")] += 1
            return False

    counter = PaintCounter()
    for w in view.plots.plots.values():
        w.viewport().installEventFilter(counter)

    step = [preload]
    start = time.perf_counter()

    def feed() -> None:
        due = preload + int((time.perf_counter() - start) * args.rate)
        while step[0] < min(due, total):
            step[0] += 1
            state.apply(parse_event(step_line(step[0], total)))
            if step[0] % 500 == 0:
                state.apply(Event("eval", time.time(), {"step": step[0], "val_loss": 3.0, "ppl": 20.0}))
        if step[0] >= total or time.perf_counter() - start > args.seconds + 5:
            app.quit()

    hb = Heartbeat()
    fd = QTimer(interval=FEED_MS)
    fd.timeout.connect(feed)
    fd.start()
    app.exec()
    fd.stop()
    hb.timer.stop()
    elapsed = time.perf_counter() - start
    result = {"scene": "stream", "events_per_s": round((step[0] - preload) / elapsed, 1),
              "points": view.plots.point_count("loss"), "shown_points": view.plots.shown_count("loss"),
              "seconds": round(elapsed, 2), **hb.figures(skip=5), "target_ms": 50,
              "frames_per_s": {k: round(v / elapsed, 1) for k, v in frames.items()}}
    result["ok"] = result["max_stall_ms"] < 50 and frames["loss"] / elapsed >= 5
    view.close_view()
    view.deleteLater()
    return result


def scene_eval(app, args) -> dict:
    from engine.protocol import Event, parse_event
    from studio.models.run_state import RunState
    from studio.run_session import RunSession
    from studio.views.monitor import MonitorView
    state = RunState("ui-latency-eval")
    n = min(args.points, 20_000)
    state.apply(Event("hello", time.time(), {"run_dir": "/bench/ui-latency-eval", "device": "bench"}))
    state.apply_many([parse_event(step_line(s, n)) for s in range(1, n + 1)])
    view = MonitorView(RunSession(state))
    view.resize(1280, 820)
    view.show()
    run_for(app, 1.5)
    hb = Heartbeat()
    run_for(app, 0.2)
    hb.reset()
    t0 = time.perf_counter()
    state.apply(parse_event(json.dumps(eval_event(n))))
    drawn = run_for(app, 5.0, until=lambda: view.plots.point_count("eval/accuracy") > 0)
    run_for(app, 1.0)                            # the plots drawn in turn after it
    hb.timer.stop()
    result = {"scene": "eval", "plots": len(view.plots.plots), "drawn_after_s": round(drawn, 3),
              **hb.figures(), "target_ms": 100, "seconds": round(time.perf_counter() - t0, 2)}
    result["ok"] = result["max_stall_ms"] < 100 and view.plots.point_count("eval/accuracy") > 0
    view.close_view()
    view.deleteLater()
    return result


def write_run(folder: Path, steps: int) -> Path:
    """A finished run's folder with `steps` step events, evals every 500 steps (with samples) and checkpoints."""
    folder.mkdir(parents=True, exist_ok=True)
    t = time.time()
    with open(folder / "events.jsonl", "w", encoding="utf-8") as f:
        f.write(json.dumps({"v": 1, "event": "hello", "t": t, "pid": 0, "device": "bench",
                            "run_dir": str(folder)}) + "\n")
        f.write(json.dumps({"v": 1, "event": "config", "t": t, "config": {"run": {"max_steps": steps}}}) + "\n")
        for s in range(1, steps + 1):
            f.write(step_line(s, steps) + "\n")
            if s % 500 == 0:
                f.write(json.dumps(eval_event(s)) + "\n")
                f.write(json.dumps({"v": 1, "event": "sample", "t": t, "step": s, "prompt": "What is 12 + 35?",
                                    "completion": "12 + 35 = 47.\nDone"}) + "\n")
            if s % 5000 == 0:
                f.write(json.dumps({"v": 1, "event": "checkpoint", "t": t, "step": s,
                                    "path": str(folder / f"checkpoints/step-{s:06d}"), "reason": "periodic"}) + "\n")
        f.write(json.dumps({"v": 1, "event": "done", "t": t, "status": "completed", "summary": {"steps": steps}})
                + "\n")
    return folder


def scene_open(app, args) -> dict:
    import tempfile

    from studio.models.run_state import RunState
    from studio.run_session import RunSession
    from studio.views.monitor import MonitorView
    folder = write_run(Path(tempfile.mkdtemp(prefix="ui-latency-run-")) / "run", args.points)
    size_mb = (folder / "events.jsonl").stat().st_size / 2**20
    hb = Heartbeat()
    run_for(app, 0.2)
    hb.reset()
    t0 = time.perf_counter()
    session = RunSession(RunState(folder.name))   # as RunManager.open and MonitorTabs.add do it
    loaded = []
    session.loaded.connect(lambda: loaded.append(time.perf_counter() - t0))
    session.load(str(folder))
    view = MonitorView(session)
    view.resize(1280, 820)
    view.show()
    run_for(app, 120.0, until=lambda: loaded and view.plots.point_count("loss") == args.points)
    drawn = time.perf_counter() - t0
    run_for(app, 1.0)
    hb.timer.stop()
    result = {"scene": "open", "steps": args.points, "events_mb": round(size_mb, 1),
              "loaded_after_s": round(loaded[0], 2) if loaded else None, "drawn_after_s": round(drawn, 2),
              "points": view.plots.point_count("loss"), **hb.figures(), "target_ms": 100}
    result["ok"] = result["max_stall_ms"] < 100 and result["points"] == args.points
    view.close_view()
    view.deleteLater()
    shutil.rmtree(folder.parent, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="UI latency of the run monitor")
    p.add_argument("--scene", choices=("stream", "eval", "open", "all"), default="all")
    p.add_argument("--rate", type=int, default=200, help="step events per second (stream)")
    p.add_argument("--points", type=int, default=100_000, help="points in the loss plot (stream: at the end)")
    p.add_argument("--seconds", type=float, default=15.0, help="how long to stream")
    args = p.parse_args(argv)

    import tempfile

    from studio import settings
    from studio.app import create_app
    settings.use_settings_dir(tempfile.mkdtemp(prefix="ui-latency-"))
    app = create_app([sys.argv[0]])
    scenes = {"stream": scene_stream, "eval": scene_eval, "open": scene_open}
    ok = True
    for name in scenes if args.scene == "all" else (args.scene,):
        result = scenes[name](app, args)
        ok = ok and result["ok"]
        print(json.dumps(result), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
