"""SamplesView: the generations a run prints at each evaluation, as text. The newest step comes first; within a
step, samples keep the order they were generated in. Each prompt is a dimmed, labelled line and its completion
follows as plain text with its own line breaks, so neither shows as a quoted string with `\\n` escapes.
"""

from __future__ import annotations

import html
from itertools import groupby

from PySide6.QtWidgets import QTextBrowser, QWidget

from studio.i18n import tr

MAX_STEPS = 50          # steps shown (the newest): a long run's few hundred evals would make every redraw slow


def samples_html(samples: list[tuple[int, str, str]], max_steps: int = MAX_STEPS) -> str:
    """HTML for (step, prompt, completion) items in arrival order."""
    by_step = [(step, [(p, c) for _s, p, c in items]) for step, items in groupby(samples, key=lambda s: s[0])]
    shown = by_step[::-1][:max_steps]
    more = tr(" Showing the newest {0} of {1} steps.").format(max_steps, len(by_step)) \
        if len(by_step) > max_steps else ""
    order = tr("Newest step first; within a step, in the order generated.")
    parts = [f"<p style='color:#64748b'>{html.escape(order)}" + more + "</p>"]
    empty, prompt_word = "<i>" + tr("(empty)") + "</i>", tr("Prompt:")
    for step, items in shown:
        parts.append("<h4 style='margin-top:10px;margin-bottom:2px'>" + tr("Step {0:,}").format(step) + "</h4>")
        for prompt, completion in items:
            parts.append("<div style='margin-bottom:6px'>"
                         f"<span style='color:#64748b'>{prompt_word}</span> "
                         f"<span style='color:#64748b;white-space:pre-wrap'>{html.escape(prompt)}</span><br>"
                         f"<span style='white-space:pre-wrap'>{html.escape(completion) or empty}</span>"
                         "</div>")
    return "".join(parts)


class SamplesView(QTextBrowser):
    """Redrawn as a whole, at most once per `refresh()` (the monitor's label timer), however fast samples come."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("samples")
        self.setOpenLinks(False)
        self._samples: list[tuple[int, str, str]] = []
        self._dirty = True
        self.setPlaceholderText(self.tr("Samples appear at each evaluation."))

    def set_samples(self, samples: list[tuple[int, str, str]]) -> None:
        self._samples = list(samples)
        self._dirty = True

    def add(self, step: int, prompt: str, completion: str) -> None:
        self._samples.append((step, prompt, completion))
        self._dirty = True

    def count(self) -> int:
        return len(self._samples)

    def refresh(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        if not self._samples:
            self.clear()
            return
        bar = self.verticalScrollBar()
        at_top = bar.value() == bar.minimum()
        keep = bar.value()
        self.setHtml(samples_html(self._samples))
        bar.setValue(bar.minimum() if at_top else keep)     # reading further down: stay there
