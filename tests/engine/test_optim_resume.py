"""Every optimizer and schedule resumes exactly: a run stopped at step 3 (the studio's stop: save, exit) and
resumed logs the same per-step losses and gradient norms as a run never stopped. Real runs of the shared loop,
in-process, on a toy model; evals every 2 steps so schedule-free's switch to its average weights is crossed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from engine import checkpoint as ckpt
from engine.commands import CommandQueue
from engine.config import load_config
from engine.events import EventSink
from engine.train.run import run_training

TOY = ["model.d_model=32", "model.n_layer=2", "model.n_head=4", "model.n_kv_head=2", "model.max_seq_len=64",
       "run.task_eval_items=0", "run.sample_prompts=[]", "hardware.device=cpu", "hardware.precision=fp32",
       "hardware.threads=1"]
STEPS = 6
# Each optimizer with a different schedule, so each schedule is crossed by a resume too.
CASES = [("adamw", "cosine"), ("lion", "linear"), ("schedulefree_adamw", "constant"), ("muon", "wsd"),
         ("sophia", "cosine")]


class StopAfter(EventSink):
    """Writes events.jsonl as usual and asks for a stop once step `at` is logged, as the studio's Stop does."""

    def __init__(self, commands: CommandQueue, at: int):
        super().__init__()
        self.commands, self.at = commands, at

    def emit(self, event: str, **data):
        out = super().emit(event, **data)
        if event == "step" and data.get("step") == self.at:
            self.commands.put("stop")
        return out


def config(text: Path, tok_dir: Path, name: str, schedule: str):
    return load_config(overrides=[*TOY, f"data.train=[{text}]", f"tokenizer.path={tok_dir}", "data.seq_len=32",
                                  "run.batch_size=2", "run.grad_accum=2", "run.eval_every=2", "run.eval_batches=2",
                                  "run.checkpoint_every=0", "run.log_every=1", f"run.max_steps={STEPS}",
                                  f"optim.name={name}", f"optim.schedule={schedule}", "optim.warmup_steps=2",
                                  "optim.hessian_every=2", "optim.decay_fraction=0.5"])


def train(cfg, workspace: Path, out: Path | None = None, resume: Path | None = None, stop_at: int = 0) -> str:
    commands = CommandQueue()
    sink = StopAfter(commands, stop_at)
    try:
        return run_training(cfg, workspace, sink, commands, out=str(out) if out else None,
                            resume=str(resume) if resume else None, resume_request={})
    finally:
        sink.close()


def steps_of(run_dir: Path) -> dict[int, dict]:
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    return {e["step"]: e for e in events if e["event"] == "step"}


@pytest.fixture
def text(tmp_path: Path) -> Path:
    path = tmp_path / "text.txt"
    path.write_text("\n".join(f"Line {i}: the quick brown fox jumps over {i * 7 % 13} lazy dogs." for i in range(300)),
                    encoding="utf-8")
    return path


@pytest.mark.parametrize(("name", "schedule"), CASES)
def test_stopped_and_resumed_run_repeats_the_uninterrupted_one(tmp_path, workspace, tok_dir, text, name, schedule):
    cfg = config(text, tok_dir, name, schedule)
    full, split = tmp_path / "full", tmp_path / "split"
    assert train(cfg, workspace, out=full) == "completed"
    assert train(cfg, workspace, out=split, stop_at=3) == "stopped"
    assert (split / "checkpoints" / "step-000003").is_dir()
    assert train(cfg, workspace, resume=split) == "completed"

    reference, resumed = steps_of(full), steps_of(split)
    assert sorted(reference) == sorted(resumed) == list(range(1, STEPS + 1))
    for step in range(1, STEPS + 1):
        for key in ("loss", "grad_norm", "lr"):
            assert resumed[step][key] == reference[step][key], f"{name} step {step} {key}"
    # The final weights are the same bit for bit (schedule-free's: its average x, what chat and export load).
    a = ckpt.load_trainer_state(full / "checkpoints" / f"step-{STEPS:06d}")
    b = ckpt.load_trainer_state(split / "checkpoints" / f"step-{STEPS:06d}")
    for sa, sb in zip(a["optimizer"].get("state", {}).values(), b["optimizer"].get("state", {}).values(),
                      strict=True):
        for key, value in sa.items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(value, sb[key]), f"{name} optimizer state {key}"
    wa = load_file(full / "checkpoints" / f"step-{STEPS:06d}" / ckpt.WEIGHTS)
    wb = load_file(split / "checkpoints" / f"step-{STEPS:06d}" / ckpt.WEIGHTS)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
