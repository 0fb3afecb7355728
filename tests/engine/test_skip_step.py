"""A NaN/inf step is skipped without a host sync where fused AdamW allows it (engine/train/skip_step.py): the kernel
leaves weights, moments and step count alone, the loop judges the step one step late, and the run ends exactly as
when every step is judged at once: same weights, same skipped count, same divergence step."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.commands import CommandQueue
from engine.config import load_config
from engine.errors import UserError
from engine.events import NullSink
from engine.hardware import init_runtime
from engine.train.loop import Trainer
from engine.train.registry import make_stage
from engine.train.setup import build_parts
from engine.train.skip_step import skips_on_device, step_if_finite

TOY = ["model.d_model=32", "model.n_layer=1", "model.n_head=4", "model.n_kv_head=2", "model.max_seq_len=64",
       "run.task_eval_items=0", "run.sample_prompts=[]", "hardware.device=cpu", "hardware.precision=fp32",
       "hardware.threads=1", "data.seq_len=32", "run.batch_size=2", "run.eval_every=0", "run.checkpoint_every=0",
       "run.eval_batches=1", "optim.warmup_steps=0", "run.max_steps=9"]


def test_a_flagged_fused_step_leaves_weights_moments_and_step_count_alone():
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(4, 4))
    opt = torch.optim.AdamW([w], lr=0.1, fused=True)
    assert skips_on_device(opt, None)
    w.grad = torch.randn(4, 4)
    step_if_finite(opt, torch.tensor(True))
    before = w.detach().clone(), {k: v.clone() for k, v in opt.state[w].items()}
    w.grad = torch.full((4, 4), float("nan"))
    step_if_finite(opt, torch.tensor(False))
    assert torch.equal(w.detach(), before[0]) and not hasattr(opt, "found_inf")
    assert all(torch.equal(opt.state[w][k], before[1][k]) for k in before[1])
    w.grad = torch.randn(4, 4)
    step_if_finite(opt, torch.tensor(True))
    assert not torch.equal(w.detach(), before[0]) and float(opt.state[w]["step"]) == 2.0


def test_only_fused_adam_without_a_loss_scaler_skips_on_the_device():
    w = torch.nn.Parameter(torch.zeros(2))
    assert not skips_on_device(torch.optim.AdamW([w], foreach=False), None)
    assert not skips_on_device(torch.optim.SGD([w], lr=0.1), None)
    assert not skips_on_device(torch.optim.AdamW([w], fused=True), torch.amp.GradScaler("cpu"))


def trainer(tmp_path: Path, workspace: Path, tok_dir: Path, name: str, *extra: str) -> Trainer:
    text = tmp_path / "text.txt"
    text.write_text("\n".join(f"Line {i}: the quick brown fox jumps over {i * 7 % 13} lazy dogs." for i in range(200)),
                    encoding="utf-8")
    cfg = load_config(overrides=[*TOY, f"data.train=[{text}]", f"tokenizer.path={tok_dir}", *extra])
    rt = init_runtime(cfg.hardware, cfg.run.seed)
    parts = build_parts(cfg, make_stage("pretrain"), workspace, NullSink(), rt, None)
    run_dir = tmp_path / name
    run_dir.mkdir()
    return Trainer(parts, rt, run_dir, NullSink(), CommandQueue())


def poison(trainer: Trainer, bad_steps: set[int]) -> None:
    """Fault injection: the loss of the given (1-based) steps is NaN, so their gradients are too."""
    real = trainer.stage.loss

    def loss(model, batch):
        value, extras = real(model, batch)
        return (value * float("nan") if trainer.step + 1 in bad_steps else value), extras
    trainer.stage.loss = loss


@pytest.mark.parametrize("log_every", [1, 4])
def test_judging_a_step_late_ends_as_judging_it_at_once(tmp_path, workspace, tok_dir, log_every):
    runs = {}
    for on_device in (True, False):
        t = trainer(tmp_path, workspace, tok_dir, f"run-{on_device}-{log_every}", f"run.log_every={log_every}")
        assert t.skip_on_device  # fused AdamW on the CPU too
        t.skip_on_device = on_device
        poison(t, {3, 6, 7})
        assert t.run() == "completed"
        runs[on_device] = t
    late, at_once = runs[True], runs[False]
    assert late.skipped_steps == at_once.skipped_steps == 3 and late.nonfinite_streak == 0
    for a, b in zip(late.model.parameters(), at_once.model.parameters(), strict=True):
        assert torch.equal(a, b)
    moments = [(late.optimizer.state[a], at_once.optimizer.state[b])
               for a, b in zip(late.params, at_once.params, strict=True)]
    assert all(torch.equal(x[k], y[k]) for x, y in moments for k in x)
    assert float(moments[0][0]["step"]) == 9 - 3  # the three poisoned steps never counted


def test_a_late_judged_streak_names_the_step_that_diverged(tmp_path, workspace, tok_dir):
    t = trainer(tmp_path, workspace, tok_dir, "diverge", "run.log_every=100", "run.max_nonfinite_steps=3")
    assert t.skip_on_device
    poison(t, {2, 3, 4, 5, 6, 7, 8, 9})
    with pytest.raises(UserError, match="diverged at step 4: non-finite loss") as err:
        t.run()
    assert "3 steps in a row" in str(err.value) and t.skipped_steps == 3
    assert not list(t.run_dir.glob("checkpoints/step-*"))  # nothing saved from the diverged weights
