"""A real tiny run with `hardware.precision: auto` on this machine trains in what `doctor` says auto picks
(bf16 on a CPU with AVX512-BF16 or AMX-BF16, fp32 elsewhere), with finite losses."""

from __future__ import annotations

import json

import pytest

from engine.hardware import cpu_auto_precision
from tests.e2e.conftest import FAST, cli


@pytest.mark.slow
def test_a_run_with_precision_auto_trains_in_what_doctor_says(tmp_path, workspace):
    out = tmp_path / "auto"
    cli(["train", "--stage", "pretrain", "--max-steps", "3", "--eval-every", "0", "--checkpoint-every", "0", *FAST,
         "--set", "hardware.precision=auto", "--set", "hardware.device=cpu", "--out", str(out)], workspace)
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    hello = next(e for e in events if e["event"] == "hello")
    assert hello["precision"] == cpu_auto_precision()[0]
    losses = [e["loss"] for e in events if e["event"] == "step"]
    assert losses and all(loss == loss and loss < 20 for loss in losses)  # finite, not diverged
