"""The wizard's time estimate and cost warnings: a real speed probe (`minigpt doctor --calibrate`) runs in the
background once the hardware is known, and the Stage and Review pages show "about N minutes" and warn when the
memory exceeds the device's or the time is absurd."""

from __future__ import annotations

import html

import pytest

from engine.config import build_config, resolve_document
from studio.engine_cmd import EngineCommand
from studio.models.cost import device_memory, run_cost
from studio.views.wizard import TrainWizard

GIB = 2**30


def report(ram: int = 64 * GIB, gpus: list | None = None) -> dict:
    """The parts of `minigpt doctor --json` the wizard reads (hand-written: the doctor itself has its own tests)."""
    return {"options": {"devices": ["auto", "cpu"], "precisions": ["auto", "fp32"]}, "default_device": "cpu",
            "cpu": {"name": "x86_64", "cores": 2}, "memory": {"total": ram, "available": ram // 2},
            "cuda": {"gpus": gpus or []}, "mps": {"available": False}}


def config(**sections):
    return build_config(resolve_document(sections))


CAL = {"preset": "tiny", "device": "CPU (x86_64, 2 threads)", "precision": "fp32", "flops_per_s": 2e10}


def test_time_and_rate_from_a_calibration():
    cfg = config(model={"preset": "tiny"}, run={"max_steps": 1000})
    cost = run_cost(cfg, 1 * GIB, CAL, report())
    assert cost.eta_text.startswith("about ") and "minutes" in cost.eta_text
    assert "tokens/s" in cost.rate_text and "tiny" in cost.rate_text and not cost.warnings
    slower = run_cost(cfg, 1 * GIB, {**CAL, "flops_per_s": 1e10}, report())
    assert slower.eta_s == pytest.approx(2 * cost.eta_s)


def test_memory_beyond_the_device_and_absurd_time_warn():
    cfg = config(model={"preset": "medium"}, run={"max_steps": 100_000})
    cost = run_cost(cfg, 22 * GIB, CAL, report(ram=8 * GIB))
    assert len(cost.warnings) == 2
    assert "needs about 22.00 GiB" in cost.warnings[0] and "8.00 GiB" in cost.warnings[0]
    assert "days of training" in cost.warnings[1]
    gpu = report(gpus=[{"index": 0, "name": "RTX 3060", "memory": 12 * GIB}])
    assert device_memory(gpu, "cuda:0") == (12 * GIB, "RTX 3060 has")
    assert device_memory(gpu, "cuda:1") is None


def test_no_calibration_says_why():
    cfg = config(model={"preset": "tiny"})
    assert run_cost(cfg, GIB, None, report(), pending=True).eta_text == "measuring this machine's speed…"
    assert "no model preset" in run_cost(cfg, GIB, None, report(), error="no model preset 'x'").eta_text
    assert run_cost(cfg, GIB, None, None).eta_s is None


@pytest.mark.timeout(300)
def test_wizard_probes_in_the_background_and_shows_time_and_warnings(qtbot, tmp_path):
    wizard = TrainWizard(EngineCommand(workspace=tmp_path / "ws"))
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.go_to(2)
    assert "hardware" in wizard.stage.estimate.time.text()          # nothing measured before the doctor reports
    wizard.hardware.fields.fields["hardware.device"].set_value("cpu")
    with qtbot.waitSignal(wizard.calibration.calibrated, timeout=240_000) as answered:
        wizard.set_doctor_report(report(ram=200 * 2**20))
        assert "measuring" in wizard.stage.estimate.time.text()      # the UI keeps going while it measures
    request, result = answered.args
    assert request == ("tiny", "cpu", "auto") and result["flops_per_s"] > 0
    assert "about" in wizard.stage.estimate.time.text()
    wizard.go_to(4)
    review = html.unescape(wizard.review.cost.text())
    assert "time: <b>about" in review and "tokens/s" in review
    assert "⚠ needs about" in review and "this machine has 200.00 MiB" in review    # tiny trains in ~280 MiB
    text = wizard.review.text().replace("max_steps: 1000", "max_steps: 50000000")
    wizard.review.editor.setPlainText(text)
    wizard.review._validate()
    assert "of training on this device" in wizard.review.cost.text()
    assert len(wizard.calibration.results) == 1                      # the same preset is not measured twice
