"""Every config knob has a Chinese name and help text (engine/config_help_zh.py), and help_for (what
`minigpt doctor --json` reports and the studio's tooltips show) hands them out beside the English help."""

from __future__ import annotations

import re

from engine.config import help_for
from engine.config_help_zh import KNOBS_ZH

CJK = re.compile(r"[\u4e00-\u9fff]")


def walk(knobs: dict, path: str):
    """(key, info) of every knob, nested sections (model.moe) included."""
    for name, info in knobs.items():
        yield f"{path}.{name}", info
        yield from walk(info.get("knobs") or {}, f"{path}.{name}")


def every_knob():
    for section, knobs in help_for().items():
        yield from walk(knobs, section)


def all_keys() -> set[str]:
    return {key for key, _ in every_knob()}


def test_every_knob_has_a_chinese_name_and_help():
    missing = sorted(all_keys() - set(KNOBS_ZH))
    assert not missing, f"add these knobs to engine/config_help_zh.py KNOBS_ZH: {missing}"
    for key, info in every_knob():
        assert info["label_zh"] and info["help_zh"], key
        assert CJK.search(info["help_zh"]), f"{key}: the Chinese help has no Chinese in it"


def test_no_help_for_a_knob_that_does_not_exist():
    stale = sorted(set(KNOBS_ZH) - all_keys())
    assert not stale, f"engine/config_help_zh.py describes knobs the config lacks: {stale}"


def test_chinese_help_keeps_the_knob_keys_it_names():
    """A help text that points at another knob (run.batch_size, model.max_seq_len...) names it in both languages."""
    for knob, info in every_knob():
        named = set(re.findall(r"\b(?:model|data|run|optim|hardware|stage|tokenizer|lora)\.[a-z_]+\b", info["help"]))
        for key in named:
            assert key in info["help_zh"], f"{knob}: the Chinese help lost the reference to {key}"
