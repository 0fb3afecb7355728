"""The Stage page's optimizer box: an optimizer selector with the engine's list, and the learning-rate schedule of
the current settings drawn before launch, following every edit (the same lr_at the trainer follows)."""

from __future__ import annotations

import pytest

from engine.config import OPTIMIZERS, SCHEDULES
from engine.estimate import lr_at
from studio.models.run_document import RunDocument
from studio.views.page_stage import StagePage


@pytest.fixture
def page(qtbot):
    p = StagePage(RunDocument())
    qtbot.addWidget(p)
    p.resize(1000, 1400)
    p.show()
    return p


def field(page, key):
    return page.groups["optim"].fields[key]


def test_optimizer_is_chosen_from_the_engines_list(page):
    combo = field(page, "optim.name").widget
    assert [combo.itemText(i) for i in range(combo.count())] == list(OPTIMIZERS)
    schedules = field(page, "optim.schedule").widget
    assert [schedules.itemText(i) for i in range(schedules.count())] == list(SCHEDULES)
    field(page, "optim.name").set_value("muon")
    assert page.doc.resolved()["optim"]["name"] == "muon"
    assert not field(page, "optim.hessian_every").widget.isVisible()   # Sophia's knob, for Sophia only
    field(page, "optim.name").set_value("sophia")
    assert field(page, "optim.hessian_every").widget.isVisible()
    assert "Sophia" in page.schedule.caption.text()


def test_the_curve_follows_the_settings(page):
    field(page, "optim.schedule").set_value("wsd")
    field(page, "optim.warmup_steps").set_value(100)
    page.groups["run"].fields["run.max_steps"].set_value(1000)
    cfg = page.doc.check().config
    curve = page.schedule
    assert curve.steps[-1] == 1000 and curve.lrs == [lr_at(s - 1, 1000, cfg.optim) for s in curve.steps]
    assert curve.lrs[-1] == pytest.approx(cfg.optim.lr * cfg.optim.min_lr_ratio, rel=0.05)  # one step short
    flat = [lr for s, lr in zip(curve.steps, curve.lrs, strict=True) if 100 < s <= 800]
    assert flat and all(lr == cfg.optim.lr for lr in flat)       # wsd: flat until the last 20%
    xs, ys = curve.curve.getData()
    assert list(xs) == curve.steps and list(ys) == curve.lrs       # what is drawn is what was computed
    assert "wsd after 100 warm-up steps" in curve.caption.text()

    field(page, "optim.schedule").set_value("linear")
    assert curve.lrs == [lr_at(s - 1, 1000, page.doc.check().config.optim) for s in curve.steps]
    field(page, "optim.lr").set_value(0)                           # invalid: no curve rather than a wrong one
    assert curve.steps == [] and curve.caption.text() == "—"
    field(page, "optim.lr").set_value(0.002)
    assert max(curve.lrs) == pytest.approx(0.002)
