"""EngineClient against the fake engine: events are parsed, and every failure path ends in a failed Outcome."""

from __future__ import annotations

import sys

import pytest

from studio.engine_client import EngineClient
from tests.studio.conftest import fake_prefix


def run_client(qtbot, mode: str, tmp_path, timeout: int = 20_000):
    argv = [*fake_prefix(mode), "--workspace", str(tmp_path), "train", "x.yaml", "--events", "jsonl"]
    client = EngineClient(argv, stderr_path=tmp_path / "stderr.log")
    events = []
    client.event_received.connect(events.append)
    with qtbot.waitSignal(client.finished, timeout=timeout) as blocker:
        client.start()
    return client, events, blocker.args[0]


def test_completed_run_reports_events_and_outcome(qtbot, tmp_path):
    _, events, outcome = run_client(qtbot, "ok", tmp_path)
    kinds = [e.event for e in events]
    assert kinds[0] == "hello" and kinds[-1] == "done"
    assert kinds.count("step") == 4
    assert outcome.status == "completed" and outcome.ok
    assert outcome.summary["steps"] == 4


@pytest.mark.parametrize("mode, needle", [
    ("crash", "crashed"),
    ("exit_nonzero", "exited with code 3"),
    ("garbage", "not a protocol event"),
    ("error", "loss is NaN"),
])
def test_failures_end_in_failed_outcome(qtbot, tmp_path, mode, needle):
    client, _, outcome = run_client(qtbot, mode, tmp_path)
    assert outcome.status == "failed"
    assert needle in outcome.message
    if mode == "error":
        assert "lower optim.lr" in outcome.hint
        assert "Traceback" in outcome.traceback
    if mode in ("crash", "exit_nonzero"):
        assert outcome.stderr_tail, "the stderr tail is kept for the monitor"


def test_program_that_cannot_start(qtbot, tmp_path):
    client = EngineClient([str(tmp_path / "no-such-engine")])
    with qtbot.waitSignal(client.finished, timeout=10_000) as blocker:
        client.start()
    assert blocker.args[0].status == "failed"
    assert "could not start" in blocker.args[0].message


def test_stop_sends_command_and_kills_after_grace(qtbot, tmp_path):
    argv = [*fake_prefix("ignore_stop"), "--workspace", str(tmp_path)]
    client = EngineClient(argv)
    with qtbot.waitSignal(client.started, timeout=10_000):
        client.start()
    qtbot.waitUntil(lambda: "stop" not in client.stderr_tail, timeout=1000)
    with qtbot.waitSignal(client.finished, timeout=15_000) as blocker:
        client.stop(grace_ms=800)
    outcome = blocker.args[0]
    assert outcome.status == "failed" and "killed" in outcome.message


def test_stop_waits_for_done(qtbot, tmp_path):
    client = EngineClient([*fake_prefix("slow"), "--workspace", str(tmp_path)])
    events = []
    client.event_received.connect(events.append)
    with qtbot.waitSignal(client.started, timeout=10_000):
        client.start()
    qtbot.waitUntil(lambda: any(e.event == "step" for e in events), timeout=10_000)
    with qtbot.waitSignal(client.finished, timeout=15_000) as blocker:
        client.stop()
    assert blocker.args[0].status == "stopped"
    assert any(e.event == "checkpoint" and e.get("reason") == "stop" for e in events)


def test_partial_lines_are_joined(qtbot):
    code = ("import sys,time,json;l=json.dumps({'v':1,'event':'hello','t':1});sys.stdout.write(l[:10]);"
            "sys.stdout.flush();time.sleep(0.3);sys.stdout.write(l[10:]+'\\n');"
            "print(json.dumps({'v':1,'event':'done','t':2,'status':'completed','summary':{}}))")
    client = EngineClient([sys.executable, "-c", code])
    events = []
    client.event_received.connect(events.append)
    with qtbot.waitSignal(client.finished, timeout=10_000) as blocker:
        client.start()
    assert [e.event for e in events] == ["hello", "done"]
    assert blocker.args[0].ok
