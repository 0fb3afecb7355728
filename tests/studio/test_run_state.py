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


def test_a_resumed_engine_runs_again_after_a_replayed_stop_or_failure(qtbot):
    for last in ({"event": "done", "status": "stopped"}, {"event": "error"}):
        s = RunState()
        s.apply(ev("hello", run_dir="/w/runs/r1", device="CPU"))
        for i in range(1, 9):
            s.apply(ev("step", t=1.0 + i, step=i, total_steps=20, loss=5.0 - 0.1 * i, lr=1e-3))
        if last["event"] == "error":
            s.apply(ev("error", kind="internal", message="boom", hint="", traceback="tb"))
            s.apply(ev("done", t=10.0, status="failed", summary={}))
        else:
            s.apply(ev("done", t=10.0, status="stopped", summary={}))
        assert s.status in ("stopped", "failed")
        # the new engine resumes from the step-5 checkpoint: steps 6.. repeat
        s.apply(ev("hello", t=20.0, run_dir="/w/runs/r1", device="CPU", resumed=True, resume_step=5))
        assert s.status == "running" and s.error is None and s.ended_t is None
        assert s.series["loss"].x.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
        s.apply(ev("step", t=21.0, step=6, total_steps=20, loss=4.4, lr=1e-3))
        assert s.series["loss"].monotonic
        s.apply(ev("done", t=30.0, status="completed", summary={}))
        assert s.status == "completed"
