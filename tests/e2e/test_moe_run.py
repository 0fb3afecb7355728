"""An MoE run through the real engine: its step events carry the router numbers, it resumes exactly, and its
checkpoint generates, evaluates and is refused by export with a message naming model.moe."""

from __future__ import annotations

import json

import pytest

from engine.protocol import read_events_file, schema_problems
from tests.e2e.conftest import FAST, cli

pytestmark = pytest.mark.slow

# A constant schedule, so a 3-step run resumed to 6 steps sees the same learning rates as a 6-step run.
MOE = ["--set", "model.preset=moe-tiny", *FAST, "--set", "model.moe.num_experts=4", "--eval-every", "0",
       "--set", "optim.schedule=constant", "--set", "optim.warmup_steps=0", "--set", "run.log_every=1"]


def steps(run_dir, after_resume: bool = False) -> dict[int, dict]:
    events = read_events_file(run_dir / "events.jsonl")
    if after_resume:
        events = events[max(i for i, e in enumerate(events) if e.event == "hello" and e.get("resumed")):]
    return {e.get("step"): e.data for e in events if e.event == "step"}


def test_moe_run_reports_routing_resumes_exactly_and_refuses_export(workspace, tmp_path):
    full = tmp_path / "full"
    cli(["train", "--out", str(full), "--max-steps", "6", *MOE], workspace)
    reference = steps(full)
    assert sorted(reference) == list(range(1, 7))
    for data in reference.values():
        assert data["aux_loss"] >= 0.99 and data["z_loss"] > 0
        assert len(data["expert_load"]) == 4 and sum(data["expert_load"]) == pytest.approx(1.0)
    lines = (full / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert [p for line in lines for p in schema_problems(json.loads(line))] == []
    config = next(json.loads(line) for line in lines if '"event":"config"' in line.replace(" ", ""))
    assert 0 < config["params_active"] < config["params"]

    part = tmp_path / "part"
    cli(["train", "--out", str(part), "--max-steps", "3", *MOE], workspace)
    cli(["train", "--resume", str(part), "--max-steps", "6"], workspace)
    resumed = steps(part, after_resume=True)
    assert sorted(resumed) == [4, 5, 6]
    for s in (4, 5, 6):
        for key in ("loss", "aux_loss", "z_loss", "expert_load"):
            assert resumed[s][key] == reference[s][key], f"step {s} {key}: {resumed[s][key]} != {reference[s][key]}"

    out = cli(["generate", str(full), "--prompt", "The", "--max-new-tokens", "5", "--json"], workspace)
    assert json.loads(out.stdout.strip().splitlines()[-1])
    report = tmp_path / "eval.json"
    cli(["eval", str(full), "--metrics", "ppl", "--limit", "20", "--out", str(report)], workspace)
    assert json.loads(report.read_text(encoding="utf-8"))
    refused = cli(["export", str(full), "--out", str(tmp_path / "hf")], workspace, check=False)
    assert refused.returncode == 2 and "model.moe" in refused.stderr and "experts" in refused.stderr
