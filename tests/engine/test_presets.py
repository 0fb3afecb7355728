"""Every preset YAML found on disk loads and validates; model presets have the sizes the docs promise."""

from __future__ import annotations

import pytest
import yaml

from engine.config import PRESETS_DIR, SECTIONS, list_presets, load_config
from engine.estimate import param_count
from engine.stages import STAGES

MODEL_FILES = sorted((PRESETS_DIR / "models").glob("*.yaml"))
STAGE_FILES = sorted((PRESETS_DIR / "stages").glob("*.yaml"))


def init_for(stage: str) -> dict:
    """A stage that must start from a checkpoint gets one named, and distill a teacher (the config does not open
    them; set-up does)."""
    return {**({"init": "runs/sft"} if STAGES[stage].needs_init else {}),
            **({"teacher": "runs/teacher"} if stage == "distill" else {})}

# Parameter ranges stated in the engine issue (with the preset's own tokenizer vocabulary).
PARAM_RANGES = {
    "tiny": (1_000_000, 3_000_000),
    "small": (22_000_000, 30_000_000),
    "medium": (85_000_000, 120_000_000),
    "large": (250_000_000, 400_000_000),
}


def test_the_presets_that_the_docs_name_exist():
    assert {"tiny", "small", "medium", "large"} <= set(list_presets("models"))
    assert {"pretrain", "sft"} <= set(list_presets("stages"))


@pytest.mark.parametrize("path", MODEL_FILES + STAGE_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_preset_file_is_a_partial_document_of_known_sections(path):
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict) and doc
    assert set(doc) <= set(SECTIONS)


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.stem)
def test_model_preset_loads_and_validates_through_load_config(path):
    cfg = load_config(path)  # the preset file as a run document
    assert cfg.model.preset == path.stem  # and it names itself, so `model.preset: <name>` finds it
    by_name = load_config(extra={"model": {"preset": path.stem}})
    assert by_name.model == cfg.model
    assert cfg.data.seq_len <= cfg.model.max_seq_len


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.stem)
@pytest.mark.parametrize("stage", list_presets("stages"))
def test_every_model_preset_combines_with_every_stage_preset(path, stage):
    cfg = load_config(extra={"model": {"preset": path.stem}, "stage": {"name": stage, **init_for(stage)}})
    assert cfg.stage.name == stage and cfg.model.preset == path.stem


@pytest.mark.parametrize("path", STAGE_FILES, ids=lambda p: p.stem)
def test_stage_preset_loads_and_names_its_stage(path):
    cfg = load_config(path, extra={"stage": init_for(path.stem)})
    assert cfg.stage.name == path.stem


@pytest.mark.parametrize("name", [n for n in list_presets("models") if n in PARAM_RANGES])
def test_model_preset_parameter_count_is_in_the_promised_range(name):
    cfg = load_config(extra={"model": {"preset": name}})
    total = param_count(cfg.model, cfg.tokenizer.vocab_size)["total"]
    lo, hi = PARAM_RANGES[name]
    assert lo <= total <= hi, f"{name}: {total:,} parameters, expected {lo:,}..{hi:,}"


def test_small_preset_has_the_documented_shape():
    m = load_config(extra={"model": {"preset": "small"}}).model
    assert (m.d_model, m.n_layer, m.n_head, m.n_kv_head) == (512, 8, 8, 2)


def test_medium_preset_has_the_documented_shape():
    m = load_config(extra={"model": {"preset": "medium"}}).model
    assert (m.d_model, m.n_layer) == (768, 16)
