"""The words of the Monitor's plots (titles and legend names), marked for pyside6-lupdate in the "PlotGrid"
context; plots.py keeps its English keys and shows them through plot_text. A title made from a metric's own
name (a new engine metric) has no entry and shows as it is.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication

WORDS = (
    QT_TRANSLATE_NOOP("PlotGrid", "Loss"), QT_TRANSLATE_NOOP("PlotGrid", "Learning rate"),
    QT_TRANSLATE_NOOP("PlotGrid", "Gradient norm"), QT_TRANSLATE_NOOP("PlotGrid", "Tokens / s"),
    QT_TRANSLATE_NOOP("PlotGrid", "Memory (MiB)"), QT_TRANSLATE_NOOP("PlotGrid", "GPU memory (MiB)"),
    QT_TRANSLATE_NOOP("PlotGrid", "MPS memory (MiB)"), QT_TRANSLATE_NOOP("PlotGrid", "Process memory, RSS (MiB)"),
    QT_TRANSLATE_NOOP("PlotGrid", "Chosen vs rejected reward"),
    QT_TRANSLATE_NOOP("PlotGrid", "Eval: chosen vs rejected reward"),
    QT_TRANSLATE_NOOP("PlotGrid", "Reward (mean, std)"), QT_TRANSLATE_NOOP("PlotGrid", "KL to the reference"),
    QT_TRANSLATE_NOOP("PlotGrid", "Preference accuracy"), QT_TRANSLATE_NOOP("PlotGrid", "Task accuracy (%)"),
    QT_TRANSLATE_NOOP("PlotGrid", "Eval: KL to the reference"),
    QT_TRANSLATE_NOOP("PlotGrid", "Eval: preference accuracy"),
    # legend names
    QT_TRANSLATE_NOOP("PlotGrid", "train"), QT_TRANSLATE_NOOP("PlotGrid", "train (smoothed)"),
    QT_TRANSLATE_NOOP("PlotGrid", "val"), QT_TRANSLATE_NOOP("PlotGrid", "grad norm"),
    QT_TRANSLATE_NOOP("PlotGrid", "allocated"), QT_TRANSLATE_NOOP("PlotGrid", "reserved"),
    QT_TRANSLATE_NOOP("PlotGrid", "peak"), QT_TRANSLATE_NOOP("PlotGrid", "peak RSS"),
    QT_TRANSLATE_NOOP("PlotGrid", "all tasks"), QT_TRANSLATE_NOOP("PlotGrid", "chosen reward"),
    QT_TRANSLATE_NOOP("PlotGrid", "rejected reward"), QT_TRANSLATE_NOOP("PlotGrid", "reward mean"),
    QT_TRANSLATE_NOOP("PlotGrid", "reward std"),
    # the built-in task families of the Task accuracy plot (engine/data/builtin_tasks.py TASK_FAMILIES)
    QT_TRANSLATE_NOOP("PlotGrid", "add"), QT_TRANSLATE_NOOP("PlotGrid", "sub"),
    QT_TRANSLATE_NOOP("PlotGrid", "count letter"), QT_TRANSLATE_NOOP("PlotGrid", "count items"),
    QT_TRANSLATE_NOOP("PlotGrid", "copy"), QT_TRANSLATE_NOOP("PlotGrid", "reverse"),
    QT_TRANSLATE_NOOP("PlotGrid", "unit"),
)


def plot_text(text: str) -> str:
    return QCoreApplication.translate("PlotGrid", text)


def nowrap(text: str) -> str:
    """`text` as HTML that a wrapping label keeps on one line ("count items" never splits over the legend's lines)."""
    return html.escape(text).replace(" ", "&nbsp;")
