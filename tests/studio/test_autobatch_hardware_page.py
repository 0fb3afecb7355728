"""The Hardware page shows what the engine's doctor found on an Apple GPU (faked in-process: no Mac here), what
`auto` picks there, and offers hardware.compile as auto/on/off; run.batch_size takes auto; the monitor shows the
auto batch size's tries, its choice and an OOM back-off."""

from __future__ import annotations

import json

import pytest
import torch

from engine.hardware import doctor_report
from engine.protocol import Event
from studio.engine_cmd import EngineCommand
from studio.models.run_state import RunState
from studio.run_session import RunSession
from studio.views.monitor import MonitorView
from studio.views.wizard import TrainWizard

GIB = 2**30


@pytest.fixture
def fake_mac(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_macos_or_newer", lambda major, minor: True)
    monkeypatch.setattr(torch.mps, "recommended_max_memory", lambda: 16 * GIB)


def test_hardware_page_shows_the_apple_gpu_and_what_auto_picks(qtbot, tmp_path, fake_mac):
    report = json.loads(json.dumps(doctor_report()))       # as the studio receives it from `doctor --json`
    wiz = TrainWizard(EngineCommand(workspace=tmp_path / "ws"))
    qtbot.addWidget(wiz)
    wiz.resize(1024, 700)
    wiz.show()
    wiz.calibration.results[("tiny", "auto", "auto")] = {"preset": "tiny", "device": "Apple GPU (MPS)",
                                                         "precision": "bf16", "flops_per_s": 1e12}
    wiz.set_doctor_report(report)
    wiz.go_to(3)
    qtbot.wait(50)
    wiz.grab().save("/tmp/autobatch_hardware_page.png")
    text = wiz.hardware.machine.text()
    assert "Apple GPU (MPS)</b>: available, 16.00 GiB usable, bf16: yes" in text
    assert "What auto picks here</b>: device mps (16.00 GiB, bf16 yes) · precision bf16 · compile off" in text
    assert "batch size: the largest micro-batch up to 256" in text

    compile_field = wiz.hardware.fields.fields["hardware.compile"]
    assert compile_field.kind == "choice"
    assert [compile_field.widget.itemText(i) for i in range(compile_field.widget.count())] == ["auto", "on", "off"]
    compile_field.set_value("on")
    assert wiz.doc.check().config.hardware.compile == "on"
    fraction = wiz.hardware.fields.fields["hardware.memory_fraction"]
    fraction.widget.setText("1.5")
    assert "hardware.memory_fraction" in (wiz.hardware.reason() or "") or "(0, 1]" in (wiz.hardware.reason() or "")


def test_batch_size_field_takes_auto(qtbot, tmp_path):
    wiz = TrainWizard(EngineCommand(workspace=tmp_path / "ws"))
    qtbot.addWidget(wiz)
    field = wiz.stage.groups["run"].fields["run.batch_size"]
    field.set_value("auto")
    assert field.widget.text() == "auto" and field.value() == "auto"
    assert wiz.doc.check().config.run.batch_size == "auto"
    assert wiz.doc.estimate() is not None                     # the estimate still has figures to show
    field.set_value(24)
    assert field.value() == 24 and wiz.doc.check().config.run.batch_size == 24


def test_monitor_shows_the_search_the_choice_and_a_back_off(qtbot):
    state = RunState("r")
    view = MonitorView(RunSession(state))
    qtbot.addWidget(view)
    view.resize(1024, 700)
    view.show()
    state.apply(Event("hello", 1.0, {"device": "CPU", "pid": 1, "run_dir": "/runs/r"}))
    state.apply(Event("batch", 2.0, {"phase": "probe", "micro_batch": 8, "grad_accum": 1, "fits": True,
                                     "message": "auto batch size: micro-batch 8 needs 0.30 GiB of 14 GiB: fits"}))
    view._on_tick()
    assert "micro-batch 8 needs" in view.progress_text.text()
    state.apply(Event("batch", 3.0, {"phase": "chosen", "micro_batch": 8, "grad_accum": 4,
                                     "message": "auto batch size: micro-batch 8 x grad_accum 4 = 8,192 tokens"}))
    assert "Auto batch size: 8 × 4" in view.notice.text()
    state.apply(Event("batch", 4.0, {"phase": "backoff", "micro_batch": 4, "grad_accum": 8, "step": 12,
                                     "message": "out of memory at step 12 ...; step 12 is repeated"}))
    assert "Out of memory at step 12: micro-batch now 4 × 8" in view.notice.text()
    assert "step 12 is repeated" in view.notice.toolTip()
    assert (state.micro_batch, state.grad_accum) == (4, 8)
    assert any(level == "warning" and "step 12 is repeated" in text for level, text in state.logs)
    qtbot.wait(50)
    assert view.notice.width() >= view.notice.sizeHint().width(), "the notice shows its whole text"
    view.grab().save("/tmp/autobatch_monitor.png")
    view.close_view()
