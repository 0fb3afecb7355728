"""RunState without widgets: metrics into series, status transitions, stage metrics, failures that stick, replay."""

from __future__ import annotations

from engine.protocol import Event
from studio.models.run_state import RunState
from studio.models.series import Series, smooth


def ev(name, t=1.0, **data):
    return Event(name, t, data)


def test_step_eval_sample_checkpoint_done(qtbot):
    s = RunState()
    added = []
    s.series_added.connect(added.append)
    s.apply(ev("hello", run_dir="/w/runs/r1", device="CPU"))
    assert s.status == "running" and s.name == "r1"
    for i in range(1, 4):
        s.apply(ev("step", t=1.0 + i, step=i, total_steps=10, epoch=0.1 * i, loss=5.0 - i, lr=1e-3, grad_norm=1.0,
                   tokens_per_s=100.0, eta_s=7.0, mem_allocated=1, mem_reserved=2, mem_peak=3, mem_kind="rss",
                   reward=0.5, expert_load=[0.2, 0.8]))
    s.apply(ev("eval", step=3, val_loss=2.5, ppl=12.0, metrics={"task_accuracy": 0.4}))
    s.apply(ev("sample", step=3, prompt="The", completion=" end"))
    s.apply(ev("checkpoint", step=3, path="/w/runs/r1/checkpoints/step-000003", reason="final"))
    assert list(s.series["loss"].y) == [4.0, 3.0, 2.0]
    assert {"reward", "expert_load/0", "expert_load/1", "eval/task_accuracy"} <= set(added)
    assert s.best_val == 2.5 and s.samples == [(3, "The", " end")]
    s.apply(ev("done", t=9.0, status="completed", summary={"steps": 3, "best_val_loss": 2.5}))
    assert s.status == "completed" and s.finished and s.elapsed_s == 8.0


def test_pause_resume_and_sticky_failure(qtbot):
    s = RunState()
    s.apply(ev("hello"))
    s.apply(ev("paused", step=1))
    assert s.status == "paused"
    s.apply(ev("resumed", step=1))
    assert s.status == "running"
    with qtbot.waitSignal(s.error_received):
        s.apply(ev("error", kind="config", message="bad", hint="fix it", traceback=None))
    s.apply(ev("done", status="completed", summary={}))
    assert s.status == "failed" and s.error.message == "bad" and s.error.hint == "fix it"


def test_replay_is_quiet_then_reloaded(qtbot):
    s = RunState()
    seen = []
    s.log_added.connect(lambda *a: seen.append(a))
    events = [ev("hello")] + [ev("log", level="info", message=f"m{i}") for i in range(5)]
    with qtbot.waitSignal(s.reloaded):
        s.apply_many(events)
    assert not seen and len(s.logs) == 5
    s.mark_interrupted()
    assert s.status == "interrupted"


def test_series_grows_and_smooths():
    srs = Series(capacity=4)
    for i in range(100_000):
        srs.append(i, float(i % 10))
    assert len(srs) == 100_000 and srs.x[-1] == 99_999
    sm = smooth(srs.y, 10)
    assert abs(sm[-1] - 4.5) < 1e-9 and len(sm) == len(srs)
