"""A real engine run with run.batch_size: auto and run.global_batch_tokens: the tries and the choice are events
(valid against their typed definitions), run.yaml records the numbers chosen, and doctor --json says what auto
picks on this machine."""

from __future__ import annotations

import json

import pytest
import yaml

from engine.protocol import read_events_file, schema_problems
from tests.e2e.conftest import FAST, cli


@pytest.mark.slow
def test_auto_batch_size_run_records_its_choice(workspace, tmp_path):
    out = tmp_path / "auto"
    cli(["train", "--stage", "pretrain", "--max-steps", "2", "--out", str(out), *FAST,
         "--set", "run.batch_size=auto", "--set", "run.global_batch_tokens=512", "--set", "run.log_every=1"],
        workspace)
    events = read_events_file(out / "events.jsonl")
    for line in (out / "events.jsonl").read_text(encoding="utf-8").splitlines():
        assert schema_problems(json.loads(line)) == []
    batch = [e for e in events if e.event == "batch"]
    assert [e.get("micro_batch") for e in batch if e.get("phase") == "probe"] == [1, 2, 4, 8]
    assert all(e.get("fits") for e in batch if e.get("phase") == "probe")    # RAM is ample for a toy model
    chosen = [e for e in batch if e.get("phase") == "chosen"]
    assert len(chosen) == 1 and (chosen[0].get("micro_batch"), chosen[0].get("grad_accum")) == (8, 1)
    ran = yaml.safe_load((out / "run.yaml").read_text(encoding="utf-8"))
    assert (ran["run"]["batch_size"], ran["run"]["grad_accum"], ran["run"]["global_batch_tokens"]) == (8, 1, 512)
    config = next(e for e in events if e.event == "config")
    assert config.get("tokens_per_step") == 512
    assert [e.get("step") for e in events if e.event == "step"] == [1, 2]

    report = json.loads(cli(["doctor", "--json"], workspace).stdout)
    assert report["options"]["auto_batch_size"] is True
    assert report["auto"]["compile"] in ("on", "off") and report["auto"]["batch_size"]["budget"] > 0
