"""The reward model's synthetic negatives (stage.rm_negatives): an empty reply and another prompt's reply built from
the batch's own tokens, their loss against a hand-computed value, and the stage adding exactly that term."""

from __future__ import annotations

import math

import pytest
import torch

from engine.commands import CommandQueue
from engine.config import ConfigError, load_config
from engine.events import NullSink
from engine.hardware import init_runtime
from engine.train.loop import Trainer
from engine.train.losses import reward_pair_loss
from engine.train.registry import make_stage
from engine.train.reward_negatives import negatives_loss, reply_starts, synthetic_negatives
from engine.train.setup import build_parts

TOY = ["run.task_eval_items=0", "run.sample_prompts=[]", "hardware.device=cpu", "hardware.precision=fp32",
       "hardware.threads=1", "data.seq_len=48", "run.batch_size=4", "run.eval_every=0", "run.log_every=1"]


def test_negatives_loss_matches_a_hand_computed_value():
    # chosen 1 vs empty 0: log(1 + e^-1) = 0.313262; vs off-topic 1: log 2 = 0.693147; their mean 0.503204
    loss = negatives_loss(torch.tensor([1.0]), torch.tensor([0.0, 1.0]), torch.tensor([True, True]))
    assert float(loss) == pytest.approx(0.503204, abs=1e-6)
    assert float(loss) == pytest.approx((math.log(1 + math.exp(-1)) + math.log(2)) / 2, abs=1e-6)
    # an invalid negative adds nothing: only the empty one counts, still halved
    half = negatives_loss(torch.tensor([1.0]), torch.tensor([0.0, 1.0]), torch.tensor([True, False]))
    assert float(half) == pytest.approx(0.313262 / 2, abs=1e-6)


def test_negatives_are_the_prompt_with_an_empty_reply_and_with_the_next_rows_reply():
    END, PAD = 2, 0
    # row 1's prompt holds an earlier assistant turn (mask 1 at 2..3): only the last reply (5..6) is replaced
    ids = torch.tensor([[5, 6, 7, 8, END, PAD, PAD], [5, 6, 9, END, 4, 9, END], [5, 6, 3, END, PAD, PAD, PAD]])
    mask = torch.tensor([[0, 0, 1, 1, 1, 0, 0], [0, 0, 1, 1, 0, 1, 1], [0, 0, 1, 1, 0, 0, 0]])
    lengths = torch.tensor([5, 7, 4])
    assert reply_starts(mask, lengths).tolist() == [2, 5, 2]
    neg = synthetic_negatives(ids, mask, lengths, END, PAD)
    rows = [neg["ids"][k, :int(neg["lengths"][k])].tolist() for k in range(6)]
    assert rows[:3] == [[5, 6, END], [5, 6, 9, END, 4, END], [5, 6, END]]                       # empty replies
    assert rows[3:] == [[5, 6, 9, END], [5, 6, 9, END, 4, 3, END], [5, 6, 7, 8, END]]          # the next row's
    assert neg["valid"].tolist() == [True] * 6
    # a reply equal to the row's own is no negative
    same = synthetic_negatives(ids[[0, 0]], mask[[0, 0]], lengths[[0, 0]], END, PAD)
    assert same["valid"].tolist() == [True, True, False, False]


def trainer_with(tmp_path, workspace, init_dir, data, *more) -> Trainer:
    cfg = load_config(overrides=[*TOY, "stage.name=reward", f"stage.init={init_dir}", f"data.train=[{data}]",
                                 "stage.rm_center=0", *more])
    rt = init_runtime(cfg.hardware, cfg.run.seed)
    parts = build_parts(cfg, make_stage("reward"), workspace, NullSink(), rt, init_dir, origin=init_dir)
    run_dir = tmp_path / "run"
    run_dir.mkdir(exist_ok=True)
    return Trainer(parts, rt, run_dir, NullSink(), CommandQueue())


def test_the_reward_stage_adds_the_weighted_negatives_term(tmp_path, workspace, tok, init_dir, jsonl):
    data = jsonl(tmp_path / "pairs.jsonl", [{"prompt": f"What is {i} + {i + 1}?", "chosen": f"{2 * i + 1}",
                                             "rejected": f"{2 * i + 2}"} for i in range(12)])
    trainer = trainer_with(tmp_path, workspace, init_dir, data, "stage.rm_negatives=0.5")
    stage, batch, model = trainer.stage, next(trainer.train_batches), trainer.model
    model.train()
    loss, extras = stage.loss(model, batch)
    scores = stage.scores(model, batch)
    neg = synthetic_negatives(batch["ids"][:4], batch["mask"][:4], batch["lengths"][:4], tok.im_end_id, tok.pad_id)
    # each negative scored alone, unpadded: the empty one is the prompt and <|im_end|>
    r_neg = torch.stack([stage.scores(model, {"ids": neg["ids"][k:k + 1, :int(neg["lengths"][k])],
                                              "lengths": neg["lengths"][k:k + 1]})[0] for k in range(8)])
    assert int(neg["ids"][0, int(neg["lengths"][0]) - 1]) == tok.im_end_id
    expected = reward_pair_loss(scores[:4], scores[4:]).sum() + 0.5 * negatives_loss(scores[:4], r_neg, neg["valid"])
    torch.testing.assert_close(loss, expected, atol=1e-5, rtol=1e-5)
    assert "negatives_accuracy" in extras
    # evaluation reports the real pairs only
    model.eval()
    plain, _ = stage.loss(model, batch)
    torch.testing.assert_close(plain, reward_pair_loss(*stage.scores(model, batch).split(4)).sum())


def test_rm_negatives_must_not_be_negative():
    with pytest.raises(ConfigError, match="stage.rm_negatives"):
        load_config(overrides=["stage.name=reward", "stage.init=x", "stage.rm_negatives=-1"])
