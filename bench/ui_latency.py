"""UI-latency benchmark: drive the run monitor with a fast stream of step events and report the longest stall
of the Qt event loop as JSON (target: under 50 ms).

    QT_QPA_PLATFORM=offscreen python bench/ui_latency.py [--rate 200] [--points 100000] [--seconds 15]

The run is pre-filled so the plots hold `--points` points by the end; then `--rate` step events per second are
parsed from protocol lines and applied on the UI thread, as the EngineClient does, while a 5 ms heartbeat timer
measures how late the event loop gets to it. It also counts the paints of each plot, so a monitor that
stopped redrawing could not pass: `frames` must show the loss plot repainting several times a second.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="UI latency of the run monitor under a fast event stream")
    p.add_argument("--rate", type=int, default=200, help="step events per second")
    p.add_argument("--points", type=int, default=100_000, help="points in the loss plot at the end")
    p.add_argument("--seconds", type=float, default=15.0, help="how long to stream")
    args = p.parse_args(argv)

    import tempfile

    from PySide6.QtCore import QEvent, QObject, Qt, QTimer

    from engine.protocol import Event, parse_event
    from studio import settings
    from studio.app import create_app
    from studio.models.run_state import RunState
    from studio.run_session import RunSession
    from studio.views.monitor import MonitorView
    settings.use_settings_dir(tempfile.mkdtemp(prefix="ui-latency-"))
    app = create_app([sys.argv[0]])
    state = RunState("ui-latency")
    streamed = int(args.rate * args.seconds)
    preload = max(0, args.points - streamed)
    total = preload + streamed
    state.apply(Event("hello", time.time(), {"run_dir": "/bench/ui-latency", "device": "bench"}))
    state.apply_many([parse_event(step_line(s, total)) for s in range(1, preload + 1)])
    view = MonitorView(RunSession(state))
    view.resize(1280, 820)
    view.show()
    app.processEvents()

    frames = dict.fromkeys(view.plots.plots, 0)

    class PaintCounter(QObject):
        def eventFilter(self, obj, ev):
            if ev.type() == QEvent.Type.Paint:
                frames[obj.parent().objectName().removeprefix("plot:")] += 1
            return False

    counter = PaintCounter()
    for w in view.plots.plots.values():
        w.viewport().installEventFilter(counter)

    gaps: list[float] = []
    last = [time.perf_counter()]
    step = [preload]
    start = time.perf_counter()

    def heartbeat() -> None:
        now = time.perf_counter()
        gaps.append((now - last[0]) * 1000)
        last[0] = now

    def feed() -> None:
        due = preload + int((time.perf_counter() - start) * args.rate)
        while step[0] < min(due, total):
            step[0] += 1
            state.apply(parse_event(step_line(step[0], total)))
            if step[0] % 500 == 0:
                state.apply(Event("eval", time.time(), {"step": step[0], "val_loss": 3.0, "ppl": 20.0}))
        if step[0] >= total or time.perf_counter() - start > args.seconds + 5:
            app.quit()

    hb = QTimer(interval=HEARTBEAT_MS, timerType=Qt.TimerType.PreciseTimer)
    hb.timeout.connect(heartbeat)
    fd = QTimer(interval=FEED_MS)
    fd.timeout.connect(feed)
    hb.start()
    fd.start()
    app.exec()
    elapsed = time.perf_counter() - start

    gaps_sorted = sorted(gaps[5:]) or [0.0]
    stall = max(0.0, gaps_sorted[-1] - HEARTBEAT_MS)
    result = {
        "events_per_s": round((step[0] - preload) / elapsed, 1), "points": view.plots.point_count("loss"),
        "shown_points": view.plots.shown_count("loss"),
        "seconds": round(elapsed, 2), "max_stall_ms": round(stall, 1),
        "p99_gap_ms": round(gaps_sorted[int(0.99 * (len(gaps_sorted) - 1))], 1),
        "median_gap_ms": round(gaps_sorted[len(gaps_sorted) // 2], 1), "heartbeat_ms": HEARTBEAT_MS,
        "target_ms": 50, "frames_per_s": {k: round(v / elapsed, 1) for k, v in frames.items()},
        "ok": stall < 50 and frames["loss"] / elapsed >= 5,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
