"""engine.config: defaults, validation with key paths, YAML errors, --set, precedence, relative paths,
help texts and the YAML round trip.
"""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest
import yaml

from engine import config as config_mod
from engine.config import (
    SECTIONS,
    Config,
    ConfigError,
    build_config,
    help_for,
    load_config,
    parse_override,
    resolve_document,
)
from engine.errors import UserError


def write_yaml(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_defaults_build_and_are_valid():
    cfg = build_config({})
    assert isinstance(cfg, Config)
    assert cfg.data.seq_len <= cfg.model.max_seq_len
    assert cfg.model.d_model % cfg.model.n_head == 0
    assert cfg.tokens_per_step == cfg.run.batch_size * cfg.run.grad_accum * cfg.data.seq_len


def test_load_config_without_file_applies_the_pretrain_stage_preset():
    stage = yaml.safe_load((config_mod.PRESETS_DIR / "stages" / "pretrain.yaml").read_text())
    cfg = load_config()
    assert cfg.stage.name == "pretrain"
    assert cfg.optim.lr == pytest.approx(float(stage["optim"]["lr"]))
    assert cfg.run.max_steps == stage["run"]["max_steps"]


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("doc", "key"),
    [
        ({"model": {"d_model": 48, "n_head": 5}}, "model.n_head"),
        ({"model": {"n_head": 4, "n_kv_head": 3}}, "model.n_kv_head"),
        ({"model": {"d_model": 36, "n_head": 4, "n_kv_head": 4}}, "model.n_head"),  # odd head size breaks RoPE
        ({"model": {"n_layer": 0}}, "model.n_layer"),
        ({"model": {"activation": "relu"}}, "model.activation"),
        ({"optim": {"lr": -1e-3}}, "optim.lr"),
        ({"optim": {"lr": 0}}, "optim.lr"),
        ({"optim": {"schedule": "step"}}, "optim.schedule"),
        ({"data": {"seq_len": 512}, "model": {"max_seq_len": 256}}, "data.seq_len"),
        ({"hardware": {"precision": "fp8"}}, "hardware.precision"),
        ({"hardware": {"device": "gpu"}}, "hardware.device"),
        ({"hardware": {"threads": 100_000}}, "hardware.threads"),  # crashed in native code at the process limit
        ({"stage": {"name": "rlhf"}}, "stage.name"),
        ({"tokenizer": {"vocab_size": 100}}, "tokenizer.vocab_size"),
        ({"run": {"batch_size": 0}}, "run.batch_size"),
        ({"run": {"max_steps": "abc"}}, "run.max_steps"),
        ({"run": {"max_steps": 2.5}}, "run.max_steps"),
        ({"run": {"max_steps": True}}, "run.max_steps"),
        ({"model": {"qk_norm": "maybe"}}, "model.qk_norm"),
        ({"optim": {"lr": "fast"}}, "optim.lr"),
        ({"data": {"train": [1, 2]}}, "data.train"),
        ({"model": {"d_model": None}}, "model.d_model"),
        ({"model": 5}, "model"),
    ],
)
def test_impossible_values_raise_config_error_with_key_path(doc, key):
    with pytest.raises(ConfigError) as e:
        build_config(doc)
    assert e.value.key == key
    assert str(e.value).startswith(f"{key}:")
    assert isinstance(e.value, UserError)


def test_unknown_key_names_its_path_and_hints_the_close_match():
    with pytest.raises(ConfigError) as e:
        build_config({"optim": {"lrr": 1e-3}})
    assert e.value.key == "optim.lrr"
    assert "optim.lrr" in str(e.value)
    assert "lr" in e.value.hint and "did you mean" in e.value.hint


def test_unknown_key_without_a_close_match_lists_the_known_keys():
    with pytest.raises(ConfigError) as e:
        build_config({"run": {"zzzzzz": 1}})
    assert e.value.key == "run.zzzzzz"
    assert "max_steps" in e.value.hint


def test_unknown_section_is_named():
    with pytest.raises(ConfigError) as e:
        build_config({"modle": {"d_model": 64}})
    assert e.value.key == "modle"
    assert all(s in e.value.hint for s in SECTIONS)


def test_unknown_key_in_a_file_names_the_file(tmp_path):
    path = write_yaml(tmp_path / "run.yaml", "optim:\n  lrr: 0.001\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert "optim.lrr" in str(e.value) and str(path) in str(e.value)


def test_unknown_key_given_by_set_names_the_set_not_the_file(tmp_path):
    path = write_yaml(tmp_path / "run.yaml", "optim:\n  lr: 0.001\n")
    with pytest.raises(ConfigError) as e:
        load_config(path, overrides=["model.d_modle=64"])
    assert str(e.value) == "model.d_modle: unknown key in --set model.d_modle=64"
    assert e.value.hint == "did you mean d_model?"
    with pytest.raises(ConfigError, match=r"unknown key in --set model\.moe\.top_kk=2"):
        load_config(overrides=["model.moe.top_kk=2"])


def test_unknown_model_preset_lists_the_available_ones():
    with pytest.raises(ConfigError) as e:
        load_config(extra={"model": {"preset": "gigantic"}})
    assert e.value.key == "model.preset"
    assert "tiny" in e.value.hint


def test_yaml_scientific_notation_without_dot_is_read_as_a_number(tmp_path):
    # PyYAML reads `1e-3` as a string (YAML 1.1); float fields must still accept it.
    path = write_yaml(tmp_path / "run.yaml", "optim:\n  lr: 1e-3\n")
    assert load_config(path).optim.lr == pytest.approx(1e-3)


def test_threads_up_to_the_cap_are_accepted():
    assert load_config(overrides=["hardware.threads=1024"]).hardware.threads == 1024
    assert load_config(overrides=["hardware.threads=0"]).hardware.threads == 0


def test_whole_numbers_in_scientific_notation_are_accepted_for_int_fields(tmp_path):
    path = write_yaml(tmp_path / "run.yaml", "run:\n  max_steps: 2e3\n")    # YAML 1.1 reads 2e3 as text
    assert load_config(path).run.max_steps == 2000
    assert load_config(overrides=["run.max_steps=1e5"]).run.max_steps == 100_000
    with pytest.raises(ConfigError, match=r"run\.max_steps: expected a whole number, got '?1\.5") as e:
        load_config(overrides=["run.max_steps=1.5"])
    assert "digits" in e.value.hint
    with pytest.raises(ConfigError, match="expected a whole number"):
        load_config(overrides=["run.max_steps=many"])


def test_ints_are_accepted_for_float_fields():
    cfg = build_config({"optim": {"lr": 1}, "model": {"rope_theta": 500000}})
    assert isinstance(cfg.optim.lr, float) and cfg.optim.lr == 1.0
    assert isinstance(cfg.model.rope_theta, float)


# ---------------------------------------------------------------- YAML files


def test_invalid_yaml_reports_the_line_number(tmp_path):
    path = write_yaml(tmp_path / "bad.yaml", "model:\n  d_model: 64\n  n_layer: [2\noptim:\n  lr: 1\n")
    with pytest.raises(UserError) as e:
        load_config(path)
    msg = str(e.value)
    assert "invalid YAML" in msg
    line = int(msg.split(f"{path}:")[1].split(":")[0])
    assert 3 <= line <= 5  # the error is near the unclosed bracket, not line 1


def test_yaml_aliases_are_refused_with_file_and_line(tmp_path):
    """Nested aliases expand a few hundred bytes into billions of values ("billion laughs")."""
    path = write_yaml(tmp_path / "alias.yaml", "base: &b [x, y]\nrun:\n  sample_prompts: *b\n")
    with pytest.raises(UserError) as e:
        load_config(path)
    assert f"{path}:3:" in e.value.message and "alias *b" in e.value.message
    assert "anchor" in e.value.hint


def test_anchors_without_aliases_and_plain_yaml_still_load(tmp_path):
    path = write_yaml(tmp_path / "anchor.yaml", "run: &r\n  max_steps: 7\n")
    assert load_config(path).run.max_steps == 7


def test_max_nonfinite_steps_is_a_documented_positive_knob():
    assert "diverged" in help_for()["run"]["max_nonfinite_steps"]["help"]
    assert load_config(None, ["run.max_nonfinite_steps=2"]).run.max_nonfinite_steps == 2
    with pytest.raises(ConfigError, match="run.max_nonfinite_steps"):
        load_config(None, ["run.max_nonfinite_steps=0"])


def test_yaml_whose_top_level_is_not_a_mapping_is_refused(tmp_path):
    path = write_yaml(tmp_path / "list.yaml", "- model\n- optim\n")
    with pytest.raises(UserError, match="mapping"):
        load_config(path)


def test_missing_and_non_utf8_files_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("run:\n  name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(UserError, match="UTF-8"):
        load_config(bad)


def test_empty_yaml_file_gives_the_defaults(tmp_path):
    path = write_yaml(tmp_path / "empty.yaml", "")
    assert load_config(path) == load_config()


def test_relative_paths_resolve_against_the_yaml_files_folder(tmp_path, monkeypatch):
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg_dir = tmp_path / "configs" / "exp1"
    path = write_yaml(cfg_dir / "run.yaml", """\
        data:
          train: [corpus.jsonl, builtin, ../shared.txt]
          val: held.jsonl
        tokenizer:
          path: tok
        stage:
          name: sft
          init: ../runs/a
    """)
    cfg = load_config(path)
    assert cfg.data.train == [str((cfg_dir / "corpus.jsonl").resolve()), "builtin",
                              str((cfg_dir.parent / "shared.txt").resolve())]
    assert cfg.data.val == [str((cfg_dir / "held.jsonl").resolve())]
    assert cfg.tokenizer.path == str((cfg_dir / "tok").resolve())
    assert cfg.stage.init == str((cfg_dir.parent / "runs" / "a").resolve())


def test_absolute_paths_in_yaml_are_kept(tmp_path):
    target = tmp_path / "abs" / "data.jsonl"
    path = write_yaml(tmp_path / "cfg" / "run.yaml", f"data:\n  train: [{target}]\n")
    assert load_config(path).data.train == [str(target)]


def test_set_paths_resolve_against_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(overrides=["data.train=mine.jsonl"])
    assert cfg.data.train == [str((tmp_path / "mine.jsonl").resolve())]


# ---------------------------------------------------------------- --set


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("run.max_steps=200", {"run": {"max_steps": 200}}),
        ("hardware.compile=true", {"hardware": {"compile": True}}),
        ("optim.lr=0.001", {"optim": {"lr": 0.001}}),
        ("run.name=my run", {"run": {"name": "my run"}}),
        ("run.sample_prompts=[a, b]", {"run": {"sample_prompts": ["a", "b"]}}),
        ("data.train=a.jsonl", {"data": {"train": ["a.jsonl"]}}),
        ("run.name=a=b", {"run": {"name": "a=b"}}),
        ("tokenizer.path=", {"tokenizer": {"path": ""}}),
    ],
)
def test_parse_override(text, expected):
    assert parse_override(text) == expected


@pytest.mark.parametrize("text", ["optim.lr", "lr=1", "a.b.c=1", ".lr=1", "optim.=1"])
def test_parse_override_rejects_malformed_keys(text):
    with pytest.raises(UserError):
        parse_override(text)


def test_set_values_are_typed_and_validated_like_yaml():
    cfg = load_config(overrides=["optim.lr=1e-3", "run.max_steps=7", "model.qk_norm=true"])
    assert cfg.optim.lr == pytest.approx(1e-3) and cfg.run.max_steps == 7 and cfg.model.qk_norm is True
    with pytest.raises(ConfigError) as e:
        load_config(overrides=["optim.lrr=1"])
    assert e.value.key == "optim.lrr"
    with pytest.raises(ConfigError) as e:
        load_config(overrides=["run.max_steps=abc"])
    assert e.value.key == "run.max_steps"


def test_set_can_pick_presets():
    cfg = load_config(overrides=["model.preset=tiny", "stage.name=sft"])
    tiny = yaml.safe_load((config_mod.PRESETS_DIR / "models" / "tiny.yaml").read_text())
    sft = yaml.safe_load((config_mod.PRESETS_DIR / "stages" / "sft.yaml").read_text())
    assert cfg.model.d_model == tiny["model"]["d_model"]
    assert cfg.optim.lr == pytest.approx(float(sft["optim"]["lr"]))


# ---------------------------------------------------------------- precedence


@pytest.fixture
def fake_presets(tmp_path, monkeypatch):
    """A presets folder where every layer sets run.name (and some set other fields), to observe who wins."""
    root = tmp_path / "presets"
    write_yaml(root / "models" / "m.yaml", """\
        model: {preset: m, d_model: 64, n_head: 4, n_kv_head: 2}
        run: {name: from-model, log_every: 3, eval_batches: 3}
        optim: {warmup_steps: 3}
    """)
    write_yaml(root / "stages" / "pretrain.yaml", """\
        stage: {name: pretrain}
        run: {name: from-stage, log_every: 4}
        optim: {warmup_steps: 4, lr: 0.004}
    """)
    monkeypatch.setattr(config_mod, "PRESETS_DIR", root)
    return root


def test_precedence_defaults_model_stage_user_set(fake_presets, tmp_path):
    path = write_yaml(tmp_path / "run.yaml", """\
        model: {preset: m}
        run: {name: from-user, eval_batches: 7}
        optim: {warmup_steps: 5}
    """)
    cfg = load_config(path, overrides=["run.name=from-set"])
    defaults = Config()
    assert cfg.run.name == "from-set"                     # --set beats everything
    assert cfg.optim.warmup_steps == 5                    # user beats stage and model
    assert cfg.run.eval_batches == 7                      # user beats model
    assert cfg.run.log_every == 4                         # stage beats model
    assert cfg.optim.lr == pytest.approx(0.004)           # stage beats defaults
    assert cfg.model.d_model == 64                        # model preset beats defaults
    assert cfg.run.batch_size == defaults.run.batch_size  # untouched: the default


def test_resolve_document_merges_nested_sections_not_replaces(fake_presets):
    doc = resolve_document({"model": {"preset": "m", "n_layer": 3}})
    assert doc["model"]["d_model"] == 64 and doc["model"]["n_layer"] == 3


def test_user_lists_replace_preset_lists(fake_presets):
    cfg = load_config(extra={"run": {"sample_prompts": ["only"]}})
    assert cfg.run.sample_prompts == ["only"]


# ---------------------------------------------------------------- help and round trip


def test_help_for_covers_every_field_with_text_and_default():
    h = help_for()
    assert list(h) == list(SECTIONS)
    for section, cls in config_mod.SECTION_TYPES.items():
        names = [f.name for f in dataclasses.fields(cls)]
        assert list(h[section]) == names
        for name in names:
            assert len(h[section][name]["help"].strip()) > 10, f"{section}.{name} has no help text"
        assert h[section][names[0]]["default"] == getattr(cls(), names[0])


def test_to_yaml_round_trips_through_build_config(tmp_path):
    cfg = load_config(overrides=["model.preset=tiny", "stage.name=sft", "optim.schedule=wsd",
                                 "run.sample_prompts=[你好, '12 + 3 =']", "model.qk_norm=true"])
    again = build_config(yaml.safe_load(cfg.to_yaml()))
    assert again == cfg
    # ...and through a file, so `run.yaml` in a run folder can be run again as it is.
    path = tmp_path / "run.yaml"
    path.write_text(cfg.to_yaml(), encoding="utf-8")
    assert load_config(path) == cfg


def test_bad_beta2_names_beta2():
    with pytest.raises(ConfigError) as e:
        build_config({"optim": {"beta2": 1.5}})
    assert e.value.key == "optim.beta2"
