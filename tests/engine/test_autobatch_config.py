"""The keys of auto batch size and compile: run.batch_size (a number or auto), run.global_batch_tokens (grad_accum
derived from it), hardware.memory_fraction and hardware.compile (auto|on|off, old true/false files still read),
through YAML, --set and the knob list; bad values name their key."""

from __future__ import annotations

import pytest

from engine.config import ConfigError, help_for, load_config

SEQ = ["data.seq_len=128"]


def test_batch_size_auto_from_set_and_yaml(tmp_path):
    assert load_config(overrides=["run.batch_size=auto"]).run.batch_size == "auto"
    yaml_file = tmp_path / "run.yaml"
    yaml_file.write_text("run:\n  batch_size: auto\n  global_batch_tokens: 4096\ndata:\n  seq_len: 128\n")
    cfg = load_config(yaml_file)
    assert (cfg.run.batch_size, cfg.run.global_batch_tokens, cfg.tokens_per_step) == ("auto", 4096, 4096)
    again = tmp_path / "again.yaml"               # what run.yaml / the studio's Save writes reads back the same
    again.write_text(cfg.to_yaml())
    assert load_config(again) == cfg
    assert load_config(overrides=["run.batch_size=24"]).run.batch_size == 24
    yaml_file.write_text("run:\n  batch_size: '24'\n")
    assert load_config(yaml_file).run.batch_size == 24


def test_global_batch_tokens_derives_grad_accum():
    cfg = load_config(overrides=[*SEQ, "run.batch_size=4", "run.global_batch_tokens=4096", "run.grad_accum=3"])
    assert cfg.run.grad_accum == 8 and cfg.tokens_per_step == 4096
    assert load_config(overrides=[*SEQ, "run.batch_size=4", "run.grad_accum=3"]).tokens_per_step == 4 * 3 * 128


@pytest.mark.parametrize(("overrides", "key", "words"), [
    (["run.batch_size=big"], "run.batch_size", "whole number or auto"),
    (["run.batch_size=0"], "run.batch_size", "positive"),
    (["run.batch_size=true"], "run.batch_size", "whole number or auto"),
    ([*SEQ, "run.global_batch_tokens=1000"], "run.global_batch_tokens", "not a whole number of sequences"),
    ([*SEQ, "run.batch_size=3", "run.global_batch_tokens=1024"], "run.global_batch_tokens", "does not divide"),
    (["run.global_batch_tokens=-1"], "run.global_batch_tokens", ">= 0"),
    (["hardware.memory_fraction=0"], "hardware.memory_fraction", "(0, 1]"),
    (["hardware.memory_fraction=1.5"], "hardware.memory_fraction", "(0, 1]"),
    (["hardware.compile=sometimes"], "hardware.compile", "unknown mode"),
    (["stage.name=grpo", "stage.init=/x", "run.batch_size=auto"], "run.batch_size", "not offered for the grpo"),
])
def test_bad_values_name_their_key(overrides, key, words):
    with pytest.raises(ConfigError) as err:
        load_config(overrides=overrides)
    assert err.value.key == key and words in err.value.message


def test_compile_modes_and_old_booleans(tmp_path):
    assert load_config().hardware.compile == "auto"
    for text, mode in (("true", "on"), ("false", "off"), ("on", "on"), ("off", "off"), ("auto", "auto")):
        f = tmp_path / f"{text}.yaml"
        f.write_text(f"hardware:\n  compile: {text}\n")
        assert load_config(f).hardware.compile == mode
        assert load_config(overrides=[f"hardware.compile={text}"]).hardware.compile == mode


def test_knobs_list_the_new_keys():
    knobs = help_for()
    assert knobs["run"]["batch_size"]["type"] == "int | str"
    assert knobs["run"]["global_batch_tokens"]["default"] == 0
    assert knobs["hardware"]["memory_fraction"]["default"] == 0.9
    assert knobs["hardware"]["compile"]["default"] == "auto"
