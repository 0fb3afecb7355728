"""ProcessClient, the one QProcess owner under EngineClient, ChatClient and DoctorCall: stdout split into protocol
events, bad lines reported, the stderr tail kept (pipe or log file), one outcome; DoctorCall on top of it."""

from __future__ import annotations

import sys

from studio.doctor_call import DoctorCall
from studio.engine_cmd import EngineCommand
from studio.process_client import ProcessClient

EVENTS = ("import json,sys,time\n"
          "ev=lambda n,**d: json.dumps({'v':1,'event':n,'t':1.0,**d})\n"
          "sys.stdout.write(ev('hello',pid=1)[:9]); sys.stdout.flush(); time.sleep(0.2)\n"
          "print(ev('hello',pid=1)[9:]); print('not json'); print(ev('log',level='info',message='é'))\n"
          "print('warn 1', file=sys.stderr); print('warn 2', end='', file=sys.stderr)\n"
          "sys.exit(3)\n")


def run(qtbot, client: ProcessClient):
    events, bad, errs = [], [], []
    client.event_received.connect(events.append)
    client.bad_line.connect(lambda line, why: bad.append((line, why)))
    client.stderr_received.connect(errs.append)
    with qtbot.waitSignal(client.finished, timeout=20_000) as blocker:
        client.start()
    return events, bad, errs, blocker.args[0]


def test_events_bad_lines_stderr_tail_and_outcome(qtbot):
    events, bad, errs, outcome = run(qtbot, ProcessClient([sys.executable, "-c", EVENTS]))
    assert [e.event for e in events] == ["hello", "log"] and events[1].get("message") == "é"
    assert bad and bad[0][0] == "not json" and "not JSON" in bad[0][1]
    assert outcome.exit_code == 3 and not outcome.ok and not outcome.crashed
    assert outcome.stderr_tail == "warn 1\nwarn 2"          # the unterminated last line too
    assert "\n".join(errs) == "warn 1\nwarn 2"


def test_stderr_kept_in_a_log_file(qtbot, tmp_path):
    log = tmp_path / "logs" / "x.stderr"
    _, _, _, outcome = run(qtbot, ProcessClient([sys.executable, "-c", EVENTS], stderr_path=log))
    assert log.read_text() == "warn 1\nwarn 2" and outcome.stderr_tail == "warn 1\nwarn 2"


def test_raw_stdout_and_start_failure(qtbot, tmp_path):
    _, _, _, outcome = run(qtbot, ProcessClient([sys.executable, "-c", "print('{\"a\": 1}')"], events=False))
    assert outcome.ok and outcome.stdout.strip() == b'{"a": 1}'
    _, _, _, outcome = run(qtbot, ProcessClient([str(tmp_path / "no-such-program")]))
    assert outcome.exit_code is None and outcome.start_error and not outcome.ok


def test_abandoned_process_that_ignores_eof_is_killed_after_grace(qtbot):
    import psutil
    client = ProcessClient([sys.executable, "-c", "import time; time.sleep(60)"])
    with qtbot.waitSignal(client.started, timeout=10_000):
        client.start()
    proc = psutil.Process(client.pid)
    client.abandon(300)
    qtbot.waitUntil(lambda: not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE, timeout=10_000)


def doctor(qtbot, tmp_path, code):
    call = DoctorCall(EngineCommand(workspace=tmp_path, prefix=[sys.executable, "-c", code]))
    got = []
    call.report_ready.connect(got.append)
    call.failed.connect(got.append)
    with qtbot.waitSignal(call.report_ready if "options" in code else call.failed, timeout=20_000):
        call.start()
    assert not call.running
    return got[0]


def test_doctor_report_and_failure(qtbot, tmp_path):
    report = doctor(qtbot, tmp_path, "import json; print(json.dumps({'options': {'stages': ['pretrain']}}))")
    assert report["options"]["stages"] == ["pretrain"]
    message = doctor(qtbot, tmp_path, "import sys; print('torch missing', file=sys.stderr); sys.exit(1)")
    assert "exit code 1" in message and "torch missing" in message
