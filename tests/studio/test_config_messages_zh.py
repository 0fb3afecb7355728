"""The engine's config errors as the 简体中文 wizard shows them (studio/config_messages.py): the knob's Chinese name
and key, the common phrasings in Chinese. Every number-valued knob is set to bad values in turn; none of the errors
the engine gives may keep an English "must be" or "expected a" phrase. English stays word for word the engine's."""

from __future__ import annotations

import copy

import pytest

from engine.config import help_for
from studio import i18n
from studio.config_messages import config_error_text, phrase_zh
from studio.engine_cmd import EngineCommand
from studio.models.run_document import check_document
from studio.views.wizard import TrainWizard

BASE = {"model": {"preset": "tiny"}, "data": {"train": ["builtin"]}, "stage": {"name": "pretrain"}}


@pytest.fixture
def zh(qapp):
    assert i18n.install_translator("zh") == "zh"
    yield
    i18n.install_translator("en")


def number_knobs(tree, prefix=""):
    for section, knobs in tree.items():
        for name, info in knobs.items():
            if "knobs" in info:
                yield from number_knobs({name: info["knobs"]}, f"{prefix}{section}.")
            elif isinstance(info["default"], int | float) and not isinstance(info["default"], bool):
                yield f"{prefix}{section}.{name}", info["default"]


def with_value(key: str, value) -> dict:
    doc = copy.deepcopy(BASE)
    *path, last = key.split(".")
    node = doc
    for part in path:
        node = node.setdefault(part, {})
    node[last] = value
    return doc


def test_every_number_knobs_range_error_is_in_chinese(zh):
    failures = {}
    for key, default in number_knobs(help_for()):
        for bad in (-1, 0, 1e30, 0.5 if isinstance(default, int) else 7.0):
            check = check_document(with_value(key, bad))
            if not check.ok:
                failures[(check.key, check.message)] = config_error_text(check.key, check.message, check.hint)
    assert len(failures) > 100                          # the sweep reached the engine's checks
    for (key, message), text in failures.items():
        what = text.split(" —— ")[0]
        assert what.startswith(f"（{key}）：") or f"（{key}）：" in what, text
        assert not any(p in what for p in ("must be", "expected a", ", got ")), (message, text)


def test_phrases_keep_their_numbers():
    assert phrase_zh("must be in [0, 0.5), got 7.0") == "必须在 [0, 0.5) 范围内，当前为 7.0"
    assert phrase_zh("must be >= 0 (0 = off), got -3") == "必须 ≥ 0（0 表示关闭），当前为 -3"
    assert phrase_zh("use one of: sigmoid, ipo") == "可选：sigmoid, ipo"
    assert phrase_zh("n_head must divide d_model") == "n_head must divide d_model"   # unknown: left as written


def test_english_is_the_engines_own_text(qapp):
    check = check_document(with_value("optim.lr", -1.0))
    assert config_error_text(check.key, check.message, check.hint) == f"{check.message} — {check.hint}"
    assert check.message == "optim.lr: must be positive and finite, got -1.0"


def test_the_review_page_shows_the_chinese_error(qtbot, tmp_path, zh):
    wizard = TrainWizard(EngineCommand(workspace=tmp_path / "ws"))
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.go_to(4)
    review = wizard.review
    text = review.text()
    assert "\noptim:\n  name: adamw\n  lr: 0.003\n" in text
    review.editor.setPlainText(text.replace("\n  lr: 0.003\n", "\n  lr: -1\n", 1))
    review._validate()                                  # what the 250 ms typing timer does
    shown = review.state.text()
    assert "学习率（optim.lr）：必须是大于 0 的有限数，当前为 -1" in shown and "must be" not in shown
    assert not review.launch.isEnabled()
