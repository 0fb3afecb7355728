"""The Hardware page says what hardware.compile: auto does for a CPU run whose shape the workspace compiled before
(the engine's record, engine/compile_record.py): the tiny preset's 1000 steps compile then, and the line says why."""

from __future__ import annotations

from engine import compile_record
from engine.config import load_config
from studio.engine_cmd import EngineCommand
from studio.views.page_hardware import compile_text
from studio.views.wizard import TrainWizard


def _compiled_before(workspace, cfg, precision: str) -> None:
    """What the engine leaves after compiling this run's shape: its record, and graphs in the cache folder."""
    compile_record.remember(workspace, compile_record.compile_key(cfg, precision), 80.0, "tiny")
    entry = compile_record.cache_dir(workspace) / "fxgraph" / "ab" / "graph"
    entry.parent.mkdir(parents=True)
    entry.write_text("compiled")


def test_a_tiny_run_compiles_when_its_shape_compiled_here_before(qapp, tmp_path, monkeypatch):
    monkeypatch.delenv(compile_record.CACHE_ENV, raising=False)
    tiny = load_config(overrides=["model.preset=tiny", "run.max_steps=1000"])
    assert compile_text(tiny, "cpu", str(tmp_path), "bf16").startswith("<b>torch.compile (auto)</b>: not compiled.")
    _compiled_before(tmp_path, tiny, "bf16")
    text = compile_text(tiny, "cpu", str(tmp_path), "bf16")
    assert text.startswith("<b>torch.compile (auto)</b>: compiled. This run plans 3.")
    assert "this shape compiled before in this workspace" in text and "at least 1e+13 FLOPs compile" in text
    # another precision is another graph: not cached
    assert "not compiled" in compile_text(tiny, "cpu", str(tmp_path), "fp32")
    assert "not compiled" in compile_text(tiny, "cpu", None, "bf16")            # no workspace known: judged cold


def test_the_hardware_page_shows_it(qtbot, tmp_path, monkeypatch):
    monkeypatch.delenv(compile_record.CACHE_ENV, raising=False)
    workspace = tmp_path / "ws"
    wiz = TrainWizard(EngineCommand(workspace=workspace))
    qtbot.addWidget(wiz)
    wiz.resize(1024, 700)
    wiz.show()
    wiz.set_doctor_report({"default_device": "cpu", "engine_version": "test", "torch": "2", "gpus": [],
                           "cpu": {"cores": 2, "ram": 2**34}, "auto": {"device": "cpu", "precision": "bf16"}})
    _compiled_before(workspace, wiz.doc.check().config, "bf16")
    wiz.calibration.results[("tiny", "auto", "auto")] = {"preset": "tiny", "device": "CPU", "precision": "bf16",
                                                         "flops_per_s": 1e10}
    wiz.go_to(3)
    wiz.hardware.refresh_cost()
    qtbot.wait(50)
    wiz.grab().save("/tmp/cpu_compile_cache_page.png")
    assert "this shape compiled before in this workspace" in wiz.hardware.cost.text()
