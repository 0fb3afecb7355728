"""The Stage interface the shared loop offers: per-token losses, the step's loss normalised by its total target
units (grad_accum=k equals a k-times batch, in training and eval), extras averaged over micro-batches, and a
stage's set-up with an extra trainable module and its own RNG state, saved and resumed exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import engine.stages
from engine import checkpoint as ckpt
from engine.commands import CommandQueue
from engine.config import load_config
from engine.errors import UserError
from engine.evaluate import mean_loss
from engine.events import EventSink, NullSink
from engine.hardware import init_runtime
from engine.model.gpt import GPT
from engine.stages import StageInfo
from engine.train.loop import Trainer
from engine.train.pretrain import PretrainStage
from engine.train.registry import make_stage
from engine.train.run import run_training
from engine.train.setup import build_parts

TOY = ["model.d_model=32", "model.n_layer=2", "model.n_head=4", "model.n_kv_head=2", "model.max_seq_len=64",
       "run.task_eval_items=0", "run.sample_prompts=[]", "hardware.device=cpu", "hardware.precision=fp32",
       "hardware.threads=1"]


# ---------------------------------------------------------------------------------------------- per-token losses

def test_reduction_none_gives_per_token_losses_whose_mean_and_sum_match(model_cfg):
    torch.manual_seed(0)
    model = GPT(model_cfg())
    x = torch.randint(0, 512, (3, 12))
    y = torch.randint(0, 512, (3, 12))
    y[0, :5] = -100
    y[2, 7:] = -100
    _, mean = model(x, y)
    _, total = model(x, y, reduction="sum")
    logits, per_token = model(x, y, reduction="none")
    assert per_token.shape == (3, 12)
    assert torch.all(per_token[y == -100] == 0) and torch.all(per_token[y != -100] > 0)
    torch.testing.assert_close(per_token.sum() / (y != -100).sum(), mean)
    torch.testing.assert_close(per_token.sum(), total)
    # each entry is minus the log-prob of its target, which DPO/PPO/GRPO sum over reply tokens
    logp = torch.log_softmax(logits.float(), -1).gather(-1, y.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(-logp[y != -100], per_token[y != -100])
    with pytest.raises(ValueError, match="reduction"):
        model(x, y, reduction="avg")


# ---------------------------------------------------------------------------------------------- grad accumulation

def sft_records() -> list[dict]:
    """Conversations of very different reply lengths, so padded micro-batches hold different token counts."""
    out = []
    for i in range(24):
        reply = " ".join(["yes"] * (1 + (i * 7) % 19))
        out.append({"conversations": [{"role": "user", "content": f"Say yes {i} times."},
                                      {"role": "assistant", "content": reply}]})
    return out


def sft_trainer(tmp_path: Path, workspace: Path, tok_dir: Path, jsonl, batch_size: int, grad_accum: int) -> Trainer:
    data = jsonl(tmp_path / "chat.jsonl", sft_records())
    cfg = load_config(overrides=[*TOY, "stage.name=sft", f"data.train=[{data}]", f"tokenizer.path={tok_dir}",
                                 "data.seq_len=48", "data.packing=false", f"run.batch_size={batch_size}",
                                 f"run.grad_accum={grad_accum}", "optim.grad_clip=0"])
    rt = init_runtime(cfg.hardware, cfg.run.seed)
    parts = build_parts(cfg, make_stage("sft"), workspace, NullSink(), rt, None)
    run_dir = tmp_path / f"run-{batch_size}x{grad_accum}"
    run_dir.mkdir()
    return Trainer(parts, rt, run_dir, NullSink(), CommandQueue())


def replies(batches: list[dict]) -> list[list[int]]:
    return [row[row != -100].tolist() for b in batches for row in b["y"]]


def test_grad_accum_k_of_b_equals_one_batch_of_k_times_b_on_padded_sft(tmp_path, workspace, tok_dir, jsonl):
    small = sft_trainer(tmp_path, workspace, tok_dir, jsonl, batch_size=2, grad_accum=2)
    large = sft_trainer(tmp_path, workspace, tok_dir, jsonl, batch_size=4, grad_accum=1)
    micro = [next(small.train_batches) for _ in range(2)]
    whole = [next(large.train_batches)]
    assert replies(micro) == replies(whole)  # the same four conversations, padded differently
    counts = [int((b["y"] != -100).sum()) for b in micro]
    assert counts[0] != counts[1], "the test needs micro-batches with different target counts"

    loss_small, _ = small.accumulate(micro)
    loss_large, _ = large.accumulate(whole)
    torch.testing.assert_close(loss_small, loss_large, rtol=1e-5, atol=0)
    for (name, a), b in zip(small.model.named_parameters(), large.model.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-7, msg=lambda m, n=name: f"{n}: {m}")

    # The mean of per-micro-batch means (the old loop) gives other gradients on this data: the test can fail.
    small.optimizer.zero_grad(set_to_none=True)
    (sum(small.model(b["x"], b["y"])[1] for b in micro) / 2).backward()
    old = torch.cat([p.grad.flatten() for p in small.model.parameters()])
    new = torch.cat([p.grad.flatten() for p in large.model.parameters()])
    with pytest.raises(AssertionError):
        torch.testing.assert_close(old, new, rtol=1e-4, atol=1e-7)

    # Eval weighs tokens the same way: two batches of 2 give the loss of one batch of 4.
    with torch.no_grad():
        two = mean_loss(small.model, iter(micro), 2, torch.device("cpu"), small.rt.autocast)
        one = mean_loss(small.model, iter(whole), 1, torch.device("cpu"), small.rt.autocast)
    assert two == pytest.approx(one, rel=1e-5) and two == pytest.approx(float(loss_large), rel=1e-5)


def test_extras_are_averaged_over_micro_batches_scalar_and_1d(tmp_path, workspace, tok_dir, jsonl):
    trainer = sft_trainer(tmp_path, workspace, tok_dir, jsonl, batch_size=2, grad_accum=2)

    class Counting(type(trainer.stage)):
        def loss(self, model, batch):
            loss, _ = super().loss(model, batch)
            n = self.count_units(batch).float()
            return loss, {"units": n, "load": torch.stack([n, 2 * n, torch.tensor(1.0)])}

    trainer.stage = Counting()
    micro = [next(trainer.train_batches) for _ in range(2)]
    counts = [float((b["y"] != -100).sum()) for b in micro]
    _, extras = trainer.accumulate(micro)
    assert float(extras["units"]) == pytest.approx(sum(counts) / 2)
    assert extras["load"].tolist() == pytest.approx([sum(counts) / 2, sum(counts), 1.0])
    from engine.train.loop import event_value
    assert event_value(extras["load"]) == pytest.approx([sum(counts) / 2, sum(counts), 1.0])
    assert isinstance(event_value(extras["units"]), float)


# ---------------------------------------------------------------------------------------------- set-up and resume

class ToyStage(PretrainStage):
    """Pretraining plus a trainable 3-way head on the embeddings fitted to noise from the stage's own RNG, and a
    running count of training micro-batches: everything a stage's set-up adds must survive a resume exactly."""
    name = "toy"
    contexts: list = []  # the StageContext of every set-up, for the test to inspect

    def setup(self, ctx):
        ToyStage.contexts.append(ctx)
        self.head = torch.nn.Linear(ctx.model.cfg.d_model, 3).to(ctx.rt.device)
        self.gen = torch.Generator().manual_seed(ctx.cfg.run.seed + 1)
        self.calls = torch.zeros(())

    def trainable(self):
        return {"head": self.head}

    def state_dict(self):
        return {"gen": self.gen.get_state(), "calls": self.calls.clone()}

    def load_state_dict(self, state):
        self.gen.set_state(state["gen"])
        self.calls = state["calls"].clone()

    def loss(self, model, batch):
        lm, _ = super().loss(model, batch)
        pred = self.head(model.embed(batch["x"]))                                  # (B, T, 3)
        if not model.training:  # evaluation leaves the training RNG and counters alone
            return lm, {}
        noise = torch.randn(pred.shape, generator=self.gen)
        head_loss = ((pred - noise) ** 2).sum(-1)                                  # (B, T)
        self.calls += 1
        return lm + 0.1 * head_loss.sum(), {"head_loss": head_loss.mean(), "load": pred.detach().mean((0, 1)),
                                            "calls": self.calls.clone()}


@pytest.fixture
def toy_stage(monkeypatch):
    """The toy stage registered the way every stage is: one registry entry naming one class."""
    monkeypatch.setitem(engine.stages.STAGES, "toy", StageInfo(
        name="toy", kind="pretrain", builtin=("pretrain_train", "pretrain_val"), preset="pretrain",
        needs_init=False, help="test stage", module=f"{__name__}:ToyStage"))
    ToyStage.contexts.clear()
    return ToyStage


def toy_config(text: Path, tok_dir: Path, steps: int, init: str | None = None):
    return load_config(overrides=[*TOY, "stage.name=toy", f"data.train=[{text}]", f"tokenizer.path={tok_dir}",
                                  "data.seq_len=32", "run.batch_size=2", "run.grad_accum=2", "run.eval_every=0",
                                  "run.checkpoint_every=0", "run.log_every=1", "run.eval_batches=2",
                                  "optim.schedule=constant", "optim.warmup_steps=0", f"run.max_steps={steps}",
                                  *([f"stage.init={init}"] if init else [])])


def train(cfg, workspace: Path, out: Path | None = None, resume: Path | None = None, more: dict | None = None):
    sink = EventSink()  # to events.jsonl only
    try:
        status = run_training(cfg, workspace, sink, CommandQueue(), out=str(out) if out else None,
                              resume=str(resume) if resume else None, resume_request=more)
    finally:
        sink.close()
    assert status == "completed"


def steps_of(run_dir: Path) -> dict[int, dict]:
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    return {e["step"]: e for e in events if e["event"] == "step"}


def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "text.txt"
    path.write_text("\n".join(f"Line {i}: the quick brown fox jumps over {i * 7 % 13} lazy dogs." for i in range(300)),
                    encoding="utf-8")
    return path


def test_stage_module_and_rng_state_are_saved_and_resumed_exactly(tmp_path, workspace, tok_dir, toy_stage):
    text = text_file(tmp_path)
    full, split = tmp_path / "full", tmp_path / "split"
    train(toy_config(text, tok_dir, 6), workspace, out=full)
    train(toy_config(text, tok_dir, 3), workspace, out=split)
    train(toy_config(text, tok_dir, 3), workspace, resume=split, more={"run": {"max_steps": 6}})

    reference, resumed = steps_of(full), steps_of(split)
    assert sorted(reference) == sorted(resumed) == list(range(1, 7))
    for step in range(1, 7):
        for key in ("loss", "head_loss", "load", "calls"):
            assert resumed[step][key] == reference[step][key], f"step {step} {key}"
    # calls counts training micro-batches (2 a step) and is averaged over them: 1.5, 3.5, ... 11.5 across the resume
    assert [reference[s]["calls"] for s in range(1, 7)] == [2 * s - 0.5 for s in range(1, 7)]
    assert isinstance(reference[1]["load"], list) and len(reference[1]["load"]) == 3

    state = ckpt.load_trainer_state(full / "checkpoints" / "step-000006")  # weights_only=True
    other = ckpt.load_trainer_state(split / "checkpoints" / "step-000006")
    for name, value in state["stage"]["modules"]["head"].items():
        assert torch.equal(value, other["stage"]["modules"]["head"][name]), name
    assert torch.equal(state["stage"]["state"]["gen"], other["stage"]["state"]["gen"])
    assert [g.get("kind") for g in state["optimizer"]["param_groups"]] == ["matrix", "embedding", "norm", "stage:head",
                                                                           "stage:head"]

    # the resumed set-up saw the resumed step folder, and no init
    last = toy_stage.contexts[-1]
    assert last.resume_dir == split / "checkpoints" / "step-000003" and last.init_dir is None


def test_resumed_set_up_gets_the_original_init_not_the_resumed_step(tmp_path, workspace, tok_dir, toy_stage):
    text = text_file(tmp_path)
    base, child = tmp_path / "base", tmp_path / "child"
    train(toy_config(text, tok_dir, 1), workspace, out=base)
    train(toy_config(text, tok_dir, 1, init=str(base)), workspace, out=child)
    origin = base / "checkpoints" / "step-000001"
    assert toy_stage.contexts[-1].init_dir == origin and toy_stage.contexts[-1].resume_dir is None
    # run.yaml names the step folder, not the run folder whose `latest` may move on
    assert f"init: {origin}" in (child / "run.yaml").read_text()

    train(toy_config(text, tok_dir, 1), workspace, resume=child, more={"run": {"max_steps": 2}})
    ctx = toy_stage.contexts[-1]
    assert ctx.init_dir == origin and ctx.resume_dir == child / "checkpoints" / "step-000001"


def test_a_checkpoint_without_the_stage_module_is_refused_on_resume(tmp_path, workspace, tok_dir, toy_stage):
    text = text_file(tmp_path)
    run = tmp_path / "run"
    train(toy_config(text, tok_dir, 1), workspace, out=run)
    state_file = run / "checkpoints" / "step-000001" / ckpt.STATE
    state = torch.load(state_file, weights_only=True)
    state["stage"]["modules"] = {}
    torch.save(state, state_file)
    with pytest.raises(UserError, match="stage modules"):
        train(toy_config(text, tok_dir, 1), workspace, resume=run, more={"run": {"max_steps": 2}})


# ---------------------------------------------------------------------------------------------- the stage registry

def test_one_registry_entry_makes_a_stage_known_everywhere(monkeypatch):
    from engine.cli import build_parser
    from engine.config import ConfigError, StageConfig
    from engine.hardware import doctor_report

    monkeypatch.setitem(engine.stages.STAGES, "toy", StageInfo(
        name="toy", kind="preference", builtin=("pref_train", "pref_val"), preset="toy", needs_init=True,
        help="a stage that starts from a checkpoint", module=f"{__name__}:ToyStage"))
    assert StageConfig(name="toy", init="/some/run").name == "toy"
    with pytest.raises(ConfigError, match="stage.init"):
        StageConfig(name="toy")
    with pytest.raises(ConfigError, match="unknown stage") as bad:
        StageConfig(name="nope")
    assert bad.value.hint == "use one of: " + ", ".join(engine.stages.STAGES)  # every stage, the toy one too
    assert bad.value.hint.endswith(", toy")
    stage_arg = next(a for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions
                     if a.dest == "stage")
    names = list(engine.stages.STAGES)  # the real stages and the toy one, last
    assert stage_arg.choices == names and names[-1] == "toy" and "starts from a checkpoint" in stage_arg.help
    options = doctor_report()["options"]
    assert options["stages"] == names
    assert options["stage_info"][-1] == {"name": "toy", "kind": "preference", "builtin": ["pref_train", "pref_val"],
                                         "preset": "toy", "needs_init": True,
                                         "help": "a stage that starts from a checkpoint", "knobs": None}
    assert isinstance(make_stage("toy"), ToyStage)
