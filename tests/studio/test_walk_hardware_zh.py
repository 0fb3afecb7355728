"""The Hardware page's "what auto picks" line in 简体中文: the batch-size rule and the compile switch were shown in the
engine's English words (seen in the zh walkthrough); the studio now says them from the doctor's fields."""

from __future__ import annotations

import pytest

from studio import i18n
from studio.views.page_hardware import describe_machine

REPORT = {"cpu": {"name": "x86_64", "cores": 2, "auto_precision": "fp32"}, "memory": {"total": 2**34,
          "available": 2**33}, "cuda": {"gpus": []}, "mps": {"available": False},
          "default_device": "cpu", "engine_version": "0.1.0", "torch": "2.x",
          "auto": {"device": "cpu", "memory": 2**34, "bf16": True, "precision": "fp32", "compile": "off",
                   "batch_size": {"how": "probe", "budget": 2**33, "memory_fraction": 0.9, "ceiling": 32,
                                  "text": "the largest micro-batch up to 32 whose step fits in 90% of RAM, tried "
                                          "before the first step"}}}


@pytest.fixture
def zh(qapp):
    assert i18n.install_translator("zh") == "zh"
    yield
    i18n.install_translator("en")


def test_english_says_the_rule_from_the_fields(qapp):
    text = describe_machine(REPORT)
    assert "· compile for long runs · batch size: the largest micro-batch up to 32 whose step fits in 90% of RAM, " \
           "tried before the first step" in text


def test_chinese_has_no_english_left_in_the_auto_line(zh):
    line = describe_machine(REPORT).split("<br>")[-1]
    assert "编译 仅长时间运行" in line and "不超过 32" in line and "90%" in line and "内存" in line
    assert not any(word in line for word in ("largest", "micro-batch", "RAM", " off", "long runs"))


def test_an_unknown_rule_is_shown_as_the_engine_wrote_it(qapp):
    report = {**REPORT, "auto": {**REPORT["auto"], "batch_size": {"how": "fixed", "text": "always 8"}}}
    assert "batch size: always 8" in describe_machine(report)


def test_on_a_cpu_the_run_s_planned_work_decides_compile_auto(qapp):
    from engine.config import load_config
    from studio.views.page_hardware import compile_text
    tiny = load_config(overrides=["model.preset=tiny", "run.max_steps=1000"])
    small = load_config(overrides=["model.preset=small", "run.max_steps=1000"])
    assert compile_text(tiny, "cpu").startswith("<b>torch.compile (auto)</b>: not compiled. This run plans 3.")
    assert compile_text(small, "cpu").startswith("<b>torch.compile (auto)</b>: compiled. This run plans 1.")
    long_tiny = load_config(overrides=["model.preset=tiny", "run.max_steps=5000"])
    assert "auto)</b>: compiled" in compile_text(long_tiny, "cpu")  # the engine's rule: the planned FLOPs
    assert compile_text(small, "cuda") == ""  # a GPU always compiles under auto: nothing run-specific to say
    assert compile_text(load_config(overrides=["model.preset=small", "hardware.compile=off"]), "cpu") == ""
    assert "compiled" in compile_text(load_config(overrides=["model.preset=tiny", "hardware.device=cpu"]), "cuda:0")
