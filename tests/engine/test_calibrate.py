"""`minigpt doctor --calibrate`: a real throughput probe, cached per device/torch/preset/precision, and the
arithmetic that turns its FLOP/s into a run's time (engine.estimate, torch-free)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from engine.calibrate import CACHE_FILE, calibrate, probe_shape
from engine.config import build_config, resolve_document
from engine.errors import UserError
from engine.estimate import ABSURD_SECONDS, eta_seconds, flops_per_token, human_duration


def test_probe_measures_then_caches(tmp_path):
    first = calibrate("tiny", tmp_path, "cpu", "fp32", steps=1)
    assert first["cached"] is False and first["tokens_per_s"] > 0 and first["flops_per_s"] > 0
    assert first["preset"] == "tiny" and first["precision"] == "fp32" and first["device_type"] == "cpu"
    assert first["flops_per_s"] == pytest.approx(first["tokens_per_s"] * first["flops_per_token"], rel=1e-3)
    stored = json.loads((tmp_path / CACHE_FILE).read_text())
    assert list(stored) == [first["key"]] and "tiny|fp32" in first["key"] and "torch" in first["key"]
    again = calibrate("tiny", tmp_path, "cpu", "fp32", steps=1)
    assert again["cached"] is True and again["flops_per_s"] == first["flops_per_s"]


def test_damaged_cache_is_measured_again(tmp_path):
    (tmp_path / CACHE_FILE).write_text("{not json")
    assert calibrate("tiny", tmp_path, "cpu", "fp32", steps=1)["cached"] is False


def test_unknown_preset_and_bad_precision_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no model preset 'huge'"):
        calibrate("huge", tmp_path)
    with pytest.raises(UserError, match="fp16 is not supported on the CPU"):
        calibrate("tiny", tmp_path, "cpu", "fp16")


def test_cpu_probe_of_a_big_preset_is_cut_to_seconds():
    cfg = build_config(resolve_document({"model": {"preset": "medium"}}))
    model = cfg.model.__class__(**{**cfg.model.__dict__, "vocab_size": cfg.tokenizer.vocab_size})
    batch, seq = probe_shape(model, cfg.run.batch_size, cfg.data.seq_len, "cpu")
    assert batch * seq < cfg.run.batch_size * cfg.data.seq_len
    assert flops_per_token(model, seq) * seq * batch <= 1.5e11
    assert probe_shape(model, 16, 1024, "cuda") == (16, 1024)


def test_cli_json(tmp_path):
    from engine.calibrate import write_cache
    # The key names the device as a fresh engine sees it (its thread count included): ask one, since this test
    # process may have changed torch's thread count in an earlier test.
    key = subprocess.run([sys.executable, "-c", "import torch; from engine.calibrate import cache_key; "
                          "from engine.hardware import device_name; "
                          "print(cache_key(device_name(torch.device('cpu')), 'fp32', 'tiny'))"],
                         capture_output=True, text=True, timeout=300, check=True).stdout.strip()
    write_cache(tmp_path, key, {"key": key, "preset": "tiny", "flops_per_s": 5e9, "tokens_per_s": 600.0})
    out = subprocess.run([sys.executable, "-m", "engine.cli", "--workspace", str(tmp_path), "doctor", "--calibrate",
                          "tiny", "--device", "cpu", "--precision", "fp32", "--json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"key": key, "preset": "tiny", "flops_per_s": 5e9, "tokens_per_s": 600.0,
                                      "cached": True}
    bad = subprocess.run([sys.executable, "-m", "engine.cli", "--workspace", str(tmp_path), "doctor", "--calibrate",
                          "nope"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "no model preset 'nope'" in bad.stderr and "Traceback" not in bad.stderr


def test_eta_is_training_plus_evals_over_measured_flops():
    cfg = build_config(resolve_document({"model": {"preset": "tiny"}, "run": {"max_steps": 100, "eval_every": 50,
                                                                              "eval_batches": 2}}))
    v = cfg.tokenizer.vocab_size
    per_token = flops_per_token(cfg.model, cfg.data.seq_len, v)
    train = per_token * cfg.tokens_per_step * 100
    evals = 3 * 2 * cfg.run.batch_size * cfg.data.seq_len * per_token / 3       # at 50, 100 and the end
    assert eta_seconds(cfg, 1e9, v) == pytest.approx((train + evals) / 1e9)
    assert eta_seconds(cfg, 2e9, v) == pytest.approx(eta_seconds(cfg, 1e9, v) / 2)
    assert eta_seconds(cfg, 0, v) is None


@pytest.mark.parametrize(("seconds", "text"), [(5, "about 5 seconds"), (600, "about 10 minutes"),
                                                (3 * 3600, "about 3.0 hours"), (5 * 86400, "about 5.0 days")])
def test_human_duration(seconds, text):
    assert human_duration(seconds) == text
    assert ABSURD_SECONDS == 86400


def test_control_character_message_says_at_once():
    from engine.data.records import RecordError, parse_line
    from engine.protocol import ProtocolError, parse_event
    with pytest.raises(RecordError) as bad:
        parse_line('{"text": "a\tb"}')
    assert "at at" not in str(bad.value) and "Invalid control character at column 12" in str(bad.value)
    assert "\\t" in str(bad.value)
    with pytest.raises(ProtocolError) as bad_event:
        parse_event('{"v": 1, "event": "log\tx"}')
    assert "at at" not in str(bad_event.value) and "control character at column" in str(bad_event.value)
