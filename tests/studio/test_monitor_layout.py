"""The monitor reads at a glance in a 1024x700 window: task accuracy is one 0-100% plot with a line per task,
the base plots sit above the fold, no axis has an SI-prefixed label, plots are built one per event-loop turn,
samples read as text (newest step first, oldest first within a step), every label and button of the monitor and
the Runs page shows its whole text (or elides it and offers the whole text as a tooltip), and a saved checkpoint
is announced outside the Log tab."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QAbstractButton, QLabel, QScrollArea, QWidget

from engine.protocol import Event
from studio.engine_cmd import EngineCommand
from studio.models.run_state import RunState
from studio.run_session import RunSession
from studio.views.elided_label import ElidedLabel
from studio.views.main_window import MainWindow
from studio.views.plots import ACCURACY, BASE_PLOTS, PlotGrid

TASKS = ("add", "copy", "count", "mul", "reverse", "sub", "unit")
LONG_NAME = "20261130-094712-sft-a-rather-long-run-name-for-a-narrow-window"
LONG_DEVICE = "NVIDIA H200 (139 GiB, compute 9.0) · bf16 · torch 2.5.1 · CUDA 12.4 · 16 CPU cores · 128 GiB RAM"


def step(i: int, total: int = 400) -> Event:
    return Event("step", 1.0 + i, {"step": i, "total_steps": total, "epoch": i / 100, "loss": 5.0 * 0.99**i,
                                   "lr": 1e-3, "grad_norm": 1.0, "tokens_per_s": 1000.0 + i, "mem_allocated": 2**28,
                                   "mem_reserved": 2**28, "mem_peak": 2**29, "mem_kind": "rss", "eta_s": 10.0})


def task_eval(i: int, acc: float) -> Event:
    """An eval event as the engine sends it: overall accuracy and one per task family (engine/evaluate.py)."""
    return Event("eval", 1.0 + i, {"step": i, "val_loss": 3.0, "ppl": 20.0,
                                   "metrics": {"accuracy": acc, **{f"acc_{t}": acc / 2 for t in TASKS}}})


def history(steps: int = 200) -> list[Event]:
    events = [Event("hello", 1.0, {"run_dir": f"/runs/{LONG_NAME}", "device": LONG_DEVICE, "pid": 0})]
    for i in range(1, steps + 1):
        events.append(step(i))
        if i % 50 == 0:
            events.append(task_eval(i, i / steps))
            events.append(Event("sample", 1.0 + i, {"step": i, "prompt": "The", "completion": ' cat "sat".\nIt slept'}))
            events.append(Event("sample", 1.0 + i, {"step": i, "prompt": "What is 12 + 35?", "completion": "47"}))
    return events


@pytest.fixture
def grid(qtbot):
    state = RunState("acc")
    state.apply_many([step(i) for i in range(1, 101)])
    g = PlotGrid(state)
    qtbot.addWidget(g)
    g.resize(900, 600)
    g.show()
    qtbot.waitUntil(lambda: not g.building, timeout=10_000)
    return g


def test_task_accuracy_is_one_plot_with_a_line_per_task_on_a_0_to_100_axis(qtbot, grid):
    grid.state.apply(task_eval(100, 0.25))
    assert grid.building and ACCURACY not in grid.plots, "a plot is built on a later event-loop turn, not at once"
    qtbot.waitUntil(lambda: not grid.building, timeout=10_000)
    grid.refresh()
    assert list(grid.plots) == [g for g, _ in BASE_PLOTS] + [ACCURACY], "one plot for all task families"
    assert len(grid.members[ACCURACY]) == 1 + len(TASKS)
    header = grid.headers[ACCURACY].text().replace("&nbsp;", " ")  # names never break across lines
    for name in ("all tasks", *TASKS):
        assert name in header, f"the legend names {name}"
    assert grid.curves["eval/accuracy"].yData[-1] == pytest.approx(25.0)    # percent
    assert grid.curves["eval/acc_add"].yData[-1] == pytest.approx(12.5)
    ylo, yhi = grid.plots[ACCURACY].getViewBox().viewRange()[1]
    assert -5 <= ylo <= 0 and 100 <= yhi <= 105


def test_no_axis_gets_an_si_prefixed_label_and_a_first_eval_spans_the_run(qtbot):
    state = RunState("first-eval")
    g = PlotGrid(state)
    qtbot.addWidget(g)
    g.resize(900, 600)
    g.show()
    state.apply(task_eval(0, 0.0))           # the engine's eval before the first step
    state.apply(Event("eval", 1.0, {"step": 0, "val_loss": 3.0, "metrics": {"bleu": 0.002}}))
    qtbot.waitUntil(lambda: not g.building, timeout=10_000)
    g.refresh()
    for group, plot in g.plots.items():
        for side in ("left", "bottom"):
            axis = plot.getPlotItem().getAxis(side)
            assert axis.autoSIPrefixScale == 1.0, f"{group} {side} axis: {axis.labelString()}"
            assert "(x" not in axis.labelString()
    xlo, xhi = g.plots[ACCURACY].getViewBox().viewRange()[0]
    assert xhi - xlo >= 1.0, "not a ±0.005 sliver around step 0"


def window_with(qtbot, state: RunState, workspace: Path, size=(1024, 700)) -> MainWindow:
    win = MainWindow(EngineCommand(workspace=workspace), run_doctor=False)
    qtbot.addWidget(win)
    win.resize(*size)
    win.show()
    view = win.monitors.add(RunSession(state))
    win.show_page(1)
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: not view.plots.building, timeout=10_000)
    view.plots.refresh()
    qtbot.wait(50)
    return win


def test_base_plots_and_task_accuracy_sit_above_the_fold_at_1024x700(qtbot, tmp_path):
    state = RunState("fold")
    events = history()
    events += [Event("step", 300.0, {"step": 201, "reward": 0.5, "kl": 0.1})]  # stage metrics after them
    state.apply_many(events)
    win = window_with(qtbot, state, tmp_path)
    assert (win.width(), win.height()) == (1024, 700), "nothing forces the window wider or taller"
    view = win.monitors.current()
    scroll = view.findChild(QScrollArea)
    viewport = scroll.viewport()
    for group in [g for g, _ in BASE_PLOTS] + [ACCURACY]:
        plot = view.plots.plots[group]
        top = plot.mapTo(viewport, plot.rect().topLeft())
        bottom = plot.mapTo(viewport, plot.rect().bottomRight())
        assert top.y() >= 0 and bottom.y() <= viewport.height(), f"{group} is below the fold"
        assert plot.height() >= 90 and plot.width() >= 200, f"{group} is too small to read"


def plain(text: str) -> str:
    doc = QTextDocument()
    doc.setHtml(text)
    return doc.toPlainText()


def unreadable(root: QWidget) -> list[str]:
    """Visible labels and buttons whose text does not fit and is not offered whole as a tooltip."""
    bad = []
    for w in root.findChildren(QLabel):
        if not w.isVisible() or not w.text():
            continue
        if isinstance(w, ElidedLabel):
            if w.is_elided() and w.toolTip() != w.full_text():
                bad.append(f"{w.objectName()}: {w.full_text()!r} elided without a tooltip")
            continue
        if w.wordWrap():
            if w.heightForWidth(w.contentsRect().width()) > w.contentsRect().height() + 1:
                bad.append(f"{w.objectName()}: {w.text()!r} wraps to more lines than it has room for")
            continue
        text = plain(w.text()) if "<" in w.text() else w.text()
        width = max(w.fontMetrics().horizontalAdvance(line) for line in text.splitlines() or [""])
        if width > w.contentsRect().width() and w.toolTip() != text:
            bad.append(f"{w.objectName()}: {text!r} needs {width}px, has {w.contentsRect().width()}px")
    for b in root.findChildren(QAbstractButton):
        if b.isVisible() and b.text() and b.fontMetrics().horizontalAdvance(b.text()) > b.width():
            bad.append(f"button {b.text()!r} is cut")
    return bad


def test_monitor_and_runs_page_are_readable_at_1024x700(qtbot, fake_command, tmp_path):
    win = MainWindow(fake_command("slow"), run_doctor=False)
    win.close_prompt = lambda *_: "stop"                              # a failed check must not hang on the question
    qtbot.addWidget(win)
    win.resize(1024, 700)
    win.show()
    session = win.manager.launch("stage:\n  name: pretrain\n")
    view = win.monitors.current()
    qtbot.waitUntil(lambda: view.pause.isEnabled(), timeout=20_000)   # every button of a live run is shown
    session.state.apply_many(history())                              # a long name, a long device, task plots
    win.show_page(1)
    qtbot.waitUntil(lambda: not view.plots.building, timeout=10_000)
    qtbot.wait(400)                                                    # the label timer has run
    assert (win.width(), win.height()) == (1024, 700), "nothing forces the window wider or taller"
    assert view.title.full_text() == LONG_NAME and view.title.is_elided()
    assert view.title.toolTip() == LONG_NAME
    assert view.device.toolTip() == LONG_DEVICE or not view.device.is_elided()
    assert unreadable(view) == []

    runs = tmp_path / "a-workspace-folder-with-a-long-name" / "and-deeper-still" / "runs"
    runs.mkdir(parents=True)
    win.table.set_runs_dir(runs)
    win.show_page(2)
    qtbot.wait(100)
    assert (win.width(), win.height()) == (1024, 700)
    assert unreadable(win.runs) == []
    session.stop()
    qtbot.waitUntil(lambda: not session.live, timeout=20_000)


def test_samples_read_as_text_newest_step_first_oldest_first_within_a_step(qtbot, tmp_path):
    state = RunState("samples")
    state.apply_many(history())
    win = window_with(qtbot, state, tmp_path)
    view = win.monitors.current()
    text = view.samples.toPlainText()
    assert "\\n" not in text and "' cat" not in text, "no repr() escapes or quotes"
    assert ' cat "sat".\nIt slept' in text, "the completion keeps its own line break"
    assert "Newest step first; within a step, in the order generated." in text
    steps = [text.index(f"Step {s}") for s in (200, 150, 100, 50)]
    assert steps == sorted(steps), "newest step first"
    block = text[text.index("Step 200"):text.index("Step 150")]
    assert block.index("Prompt: The") < block.index("Prompt: What is 12 + 35?"), "oldest first within a step"
    html = view.samples.toHtml()
    assert "#64748b" in html, "prompts are dimmed apart from their completions"


def test_save_now_is_confirmed_outside_the_log_tab(qtbot, fake_command):
    win = MainWindow(fake_command("slow"), run_doctor=False)
    win.close_prompt = lambda *_: "stop"                              # a failed check must not hang on the question
    qtbot.addWidget(win)
    win.resize(1024, 700)
    win.show()
    session = win.manager.launch("stage:\n  name: pretrain\n")
    view = win.monitors.current()
    win.show_page(1)
    qtbot.waitUntil(lambda: view.save.isEnabled(), timeout=20_000)
    view.side.setCurrentIndex(0)                                       # the Samples tab, not the Log
    view.save.click()
    assert view.notice.isVisible() and "Saving" in view.notice.text()
    qtbot.waitUntil(lambda: any(c[2] == "requested" for c in session.state.checkpoints), timeout=20_000)
    saved = next(c for c in session.state.checkpoints if c[2] == "requested")
    assert view.notice.isVisible() and f"Checkpoint saved at step {saved[0]:,}" in view.notice.text()
    assert "Checkpoint saved" in win.statusBar().currentMessage()
    session.stop()
    qtbot.waitUntil(lambda: not session.live, timeout=20_000)
