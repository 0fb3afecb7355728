"""The Hardware page offers several training processes (and hardware.parallel) only where the doctor reports
several GPUs: hidden on this CPU machine's real report, shown for a report with four, and the choice becomes
`--nproc N` on the train command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from studio.engine_cmd import EngineCommand
from studio.views.wizard import TrainWizard


@pytest.fixture
def wizard(qtbot, tmp_path):
    w = TrainWizard(EngineCommand(workspace=tmp_path / "ws"))
    qtbot.addWidget(w)
    w.show()
    w.go_to(3)
    return w


@pytest.fixture(scope="module")
def doctor(tmp_path_factory) -> str:
    """This machine's real `minigpt doctor --json` (asked once for the module)."""
    env = {**os.environ, "MINIGPT_HOME": str(tmp_path_factory.mktemp("ws"))}
    return subprocess.run([sys.executable, "-m", "engine.cli", "doctor", "--json"], env=env, capture_output=True,
                          text=True, timeout=120, check=True).stdout


def test_hidden_without_several_gpus(qtbot, wizard, doctor, tmp_path):
    report = json.loads(doctor)
    gpus = report["cuda"]["count"]
    assert gpus == len(report["cuda"]["gpus"])
    if gpus > 1:
        pytest.skip("this machine has several GPUs")
    wizard.hardware.set_report(report)
    row = wizard.hardware.processes
    assert not row.isVisible() and row.processes() == 1 and row.launch_flags() == []
    assert "hardware.parallel" not in wizard.hardware.fields.fields
    qtbot.wait(50)  # the layout settles before the picture
    wizard.hardware.grab().save(str(tmp_path / "hardware-cpu.png"))


def test_shown_with_four_gpus_and_passed_as_nproc(qtbot, wizard, doctor, tmp_path):
    report = json.loads(doctor)
    gpu = {"index": 0, "name": "NVIDIA H200", "memory": 141 * 2**30, "capability": "9.0"}
    report["cuda"] = {"available": True, "version": "12.8", "count": 4,
                      "gpus": [{**gpu, "index": i} for i in range(4)]}
    report["options"] = {**report["options"], "multi_gpu": True, "parallels": ["none", "ddp", "fsdp"]}
    wizard.hardware.set_report(report)
    row = wizard.hardware.processes
    assert row.isVisible() and row.spin.maximum() == 4 and row.processes() == 1  # one until the user asks
    row.spin.setValue(3)
    assert row.launch_flags() == ["--nproc", "3"]
    assert "global batch" in row.note.text()
    parallel = wizard.hardware.fields.fields["hardware.parallel"]
    parallel.set_value("fsdp")
    assert wizard.doc.resolved()["hardware"]["parallel"] == "fsdp"
    argv = EngineCommand(workspace=tmp_path / "ws").train("run.yaml", row.launch_flags())
    assert argv[-2:] == ["--nproc", "3"] and "train" in argv
    qtbot.wait(50)
    wizard.hardware.grab().save(str(tmp_path / "hardware-gpus.png"))
