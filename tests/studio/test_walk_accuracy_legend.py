"""The Task accuracy plot's legend in 简体中文: the built-in task families are named in Chinese, and no family name is
split over two lines of the wrapping legend (seen in the zh monitor: "count" at a line's end, "items" on the next)."""

from __future__ import annotations

import re

import pytest
from PySide6.QtWidgets import QLabel

from engine.data.builtin_tasks import TASK_FAMILIES
from engine.protocol import Event
from studio import i18n
from studio.models.run_state import RunState
from studio.views.plots import ACCURACY, PlotGrid


def accuracy_legend(qtbot) -> str:
    state = RunState("legend")
    accuracy = {"accuracy": 0.25, **{f"acc_{f}": 0.1 for f in TASK_FAMILIES}}
    state.apply_many([Event("step", 1.0, {"step": 1, "total_steps": 10, "loss": 5.0, "lr": 1e-3}),
                      Event("eval", 1.0, {"step": 1, "val_loss": 5.0, "metrics": accuracy})])
    grid = PlotGrid(state)
    qtbot.addWidget(grid)
    grid.resize(900, 600)
    grid.show()
    qtbot.waitUntil(lambda: "━" in grid.headers.get(ACCURACY, QLabel()).text(), timeout=10_000)
    return grid.headers[ACCURACY].text()


@pytest.fixture
def zh(qapp):
    assert i18n.install_translator("zh") == "zh"
    yield
    i18n.install_translator("en")


def test_task_families_are_named_in_chinese(qtbot, zh):
    legend = accuracy_legend(qtbot)
    assert all(word in legend for word in ("全部任务", "加法", "减法", "数字母", "数项目", "复制", "倒序", "单位换算"))
    assert not any(english in legend for english in ("count", "reverse", "unit", "copy"))


def test_a_legend_name_is_never_split_over_two_lines(qtbot):
    legend = accuracy_legend(qtbot)
    names = re.findall(r"━</span>&nbsp;(.*?)(?= <span|</small>|$)", legend)
    assert "count&nbsp;items" in names and "all&nbsp;tasks" in names and len(names) == 1 + len(TASK_FAMILIES)
    assert not any(" " in name for name in names)
