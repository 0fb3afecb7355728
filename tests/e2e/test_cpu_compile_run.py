"""A short real run on the CPU with hardware.compile: auto says in its log that it stays eager, and why."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.e2e.conftest import FAST, cli


@pytest.mark.slow
def test_a_short_real_run_on_the_cpu_logs_that_auto_stays_eager(workspace, tmp_path):
    proc = cli(["train", "--stage", "pretrain", "--max-steps", "1", "--eval-every", "0", "--out",
                str(tmp_path / "run"), "--events", "jsonl", *FAST], workspace)
    logs = [e["message"] for e in map(json.loads, proc.stdout.splitlines()) if e.get("event") == "log"]
    assert any(m.startswith("torch.compile (auto) eager: this run plans") for m in logs), logs
    assert not any("blocks are compiled" in m for m in logs)
    # what auto decided is what the run keeps: a resume runs the same kernels instead of deciding again
    assert yaml.safe_load((tmp_path / "run" / "run.yaml").read_text())["hardware"]["compile"] == "off"
