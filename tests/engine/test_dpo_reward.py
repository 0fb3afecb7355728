"""The DPO and reward-model stages on a toy model: what their losses are fed (reply-only summed log-probs, a frozen
reference equal to the policy at step 0, the head on the last real token), the pairs they skip, their checkpoints,
and the bad inputs refused before training."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest
import torch

from engine import checkpoint as ckpt
from engine.commands import CommandQueue
from engine.config import ConfigError, load_config
from engine.errors import UserError
from engine.events import NullSink
from engine.hardware import init_runtime
from engine.model.gpt import GPT
from engine.train.loop import Trainer
from engine.train.losses import dpo_loss, reward_pair_loss
from engine.train.registry import make_stage
from engine.train.reward import check_same_tokenizer, load_reward_model
from engine.train.run import run_training
from engine.train.setup import build_parts

TOY = ["run.task_eval_items=0", "run.sample_prompts=[]", "hardware.device=cpu", "hardware.precision=fp32",
       "hardware.threads=1", "data.seq_len=48", "run.batch_size=4", "run.eval_every=0", "run.log_every=1"]


class ListSink(NullSink):
    """Keeps every event and log line (a real EventSink without a stream)."""

    def __init__(self):
        self.events: list[tuple[str, dict]] = []

    def emit(self, event, **fields):
        self.events.append((event, fields))

    def log(self, message, level="info"):
        self.events.append(("log", {"message": message, "level": level}))


def pairs(n: int = 24) -> list[dict]:
    out = []
    for i in range(n):
        a, b = i * 3 % 17, i * 5 % 13
        out.append({"prompt": f"What is {a} + {b}?", "chosen": f"{a + b}", "rejected": f"{a + b + 1 + i % 3}"})
    return out


@pytest.fixture
def pref_file(tmp_path, jsonl) -> Path:
    return jsonl(tmp_path / "pairs.jsonl", pairs())


def trainer_for(stage: str, tmp_path, workspace, init_dir, data: Path, *more: str, sink=None) -> Trainer:
    # plain DPO and reward model unless a test asks otherwise (the presets add the RPO term, negatives and centring)
    cfg = load_config(overrides=[*TOY, f"stage.name={stage}", f"stage.init={init_dir}", f"data.train=[{data}]",
                                 "stage.rpo_alpha=0", "stage.rm_negatives=0", "stage.rm_center=0", *more])
    rt = init_runtime(cfg.hardware, cfg.run.seed)
    sink = sink or NullSink()
    parts = build_parts(cfg, make_stage(stage), workspace, sink, rt, init_dir, origin=init_dir)
    run_dir = tmp_path / f"run-{stage}"
    run_dir.mkdir(exist_ok=True)
    return Trainer(parts, rt, run_dir, sink, CommandQueue())


def reply_logp(model: GPT, tok, record: dict, side: str) -> torch.Tensor:
    """log p(reply | prompt) computed independently: the chat template's ids, log-softmax, summed over the reply's
    tokens and its <|im_end|> only."""
    prompt = [{"role": "user", "content": record["prompt"]}]
    head = tok.encode_chat(prompt, add_generation_prompt=True)[0]
    reply = tok.encode(record[side]) + [tok.im_end_id]
    ids = torch.tensor([head + reply])
    logits, _ = model(ids[:, :-1])
    logp = torch.log_softmax(logits.float(), -1)[0, torch.arange(ids.shape[1] - 1), ids[0, 1:]]
    return logp[len(head) - 1:].sum()


# ---------------------------------------------------------------------------------------------- DPO

def test_dpo_at_step_0_the_reference_equals_the_policy_so_the_loss_is_ln2(tmp_path, workspace, init_dir, pref_file):
    trainer = trainer_for("dpo", tmp_path, workspace, init_dir, pref_file)
    stage, batch = trainer.stage, next(trainer.train_batches)
    assert stage.reference is not None and stage.reference is not trainer.model
    assert not any(p.requires_grad for p in stage.reference.parameters())
    loss, extras = stage.loss(trainer.model, batch)
    n_pairs = int(stage.count_units(batch))
    assert n_pairs == 4
    assert float(loss.detach()) / n_pairs == pytest.approx(math.log(2), abs=1e-6)
    assert set(extras) == {"chosen_reward", "rejected_reward", "margin", "pref_accuracy"}
    assert all(float(v) == pytest.approx(0.0, abs=1e-6) for v in extras.values())
    # one step of training moves the policy away from the reference, which stays put
    before = [p.clone() for p in stage.reference.parameters()]
    trainer.train_batches = itertools.repeat(batch)
    trainer.train_step(1e-4)
    assert all(torch.equal(a, b) for a, b in zip(before, stage.reference.parameters(), strict=True))
    loss_after, extras_after = stage.loss(trainer.model, batch)
    assert float(loss_after.detach()) / n_pairs < math.log(2)
    assert float(extras_after["margin"]) > 0


def test_dpo_loss_is_fed_reply_only_summed_log_probs(tmp_path, workspace, init_dir, pref_file, tok):
    trainer = trainer_for("dpo", tmp_path, workspace, init_dir, pref_file, "run.batch_size=2")
    stage = trainer.stage
    torch.manual_seed(3)
    with torch.no_grad():  # move the policy off the reference so the log-ratios are not zero
        for p in trainer.model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    batch = next(trainer.train_batches)
    # which records the batch holds: the loader's seeded order over the kept pairs
    records = pairs()
    order = trainer.train_batches._order[:2]
    expect = []
    for side in ("chosen", "rejected"):
        for i in order:
            expect.append((reply_logp(trainer.model, tok, records[i], side),
                           reply_logp(stage.reference, tok, records[i], side)))
    pol = torch.stack([e[0] for e in expect])
    ref = torch.stack([e[1] for e in expect])
    want = dpo_loss(pol[:2], pol[2:], ref[:2], ref[2:], beta=0.1).losses.sum()
    loss, extras = stage.loss(trainer.model, batch)
    torch.testing.assert_close(loss, want, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(extras["chosen_reward"], (0.1 * (pol[:2] - ref[:2])).mean(), atol=1e-5, rtol=1e-5)


def test_dpo_simpo_keeps_no_reference_and_other_losses_run(tmp_path, workspace, init_dir, pref_file):
    trainer = trainer_for("dpo", tmp_path, workspace, init_dir, pref_file, "stage.loss_type=simpo")
    assert trainer.stage.reference is None
    loss, _ = trainer.stage.loss(trainer.model, next(trainer.train_batches))
    assert torch.isfinite(loss)
    for kind in ("ipo", "hinge"):
        t = trainer_for("dpo", tmp_path, workspace, init_dir, pref_file, f"stage.loss_type={kind}")
        loss, _ = t.stage.loss(t.model, next(t.train_batches))
        assert float(loss.detach()) / 4 == pytest.approx(1 / (4 * 0.1 ** 2) if kind == "ipo" else 1.0, rel=1e-5)


def test_long_pairs_and_ties_are_skipped_and_named_with_file_and_line(tmp_path, workspace, init_dir, jsonl):
    records = pairs(20)
    records[3] = {"prompt": "long " * 60, "chosen": "a", "rejected": "b"}
    records[7] = {"prompt": "Which?", "chosen": "left", "rejected": "right", "tie": True}
    data = jsonl(tmp_path / "mixed.jsonl", records)
    sink = ListSink()
    trainer = trainer_for("dpo", tmp_path, workspace, init_dir, data, sink=sink)
    logs = [f["message"] for e, f in sink.events if e == "log"]
    assert any("longer than data.seq_len 48" in m and f"{data}:4" in m for m in logs), logs
    assert any("tied" in m and f"{data}:8" in m for m in logs), logs
    assert len(trainer.p.train_items) + len(trainer.p.val_items) == 18
    for _ in range(6):
        assert next(trainer.train_batches)["ids"].shape[1] <= 48


def test_dpo_eval_reports_preference_metrics_on_held_out_pairs(tmp_path, workspace, init_dir, pref_file):
    trainer = trainer_for("dpo", tmp_path, workspace, init_dir, pref_file, "data.val_fraction=0.25")
    assert len(trainer.p.val_items) == 6
    val_loss, metrics = trainer.stage.evaluate(trainer)
    assert val_loss == pytest.approx(math.log(2), abs=1e-6)
    assert {"chosen_reward", "rejected_reward", "margin", "pref_accuracy", "policy_pref_accuracy"} <= set(metrics)
    assert 0.0 <= metrics["policy_pref_accuracy"] <= 1.0


# ---------------------------------------------------------------------------------------------- bad inputs

def test_dpo_and_reward_need_an_init_checkpoint(pref_file):
    for stage in ("dpo", "reward"):
        with pytest.raises(ConfigError, match="stage.init"):
            load_config(overrides=[f"stage.name={stage}", f"data.train=[{pref_file}]"])


@pytest.mark.parametrize("override,key", [("stage.loss_type=kto", "stage.loss_type"), ("stage.beta=0", "stage.beta"),
                                          ("stage.beta=-1", "stage.beta"),
                                          ("stage.label_smoothing=0.5", "stage.label_smoothing"),
                                          ("stage.rpo_alpha=-1", "stage.rpo_alpha")])
def test_preference_keys_are_validated_with_their_key_path(init_dir, override, key):
    with pytest.raises(ConfigError) as err:
        load_config(overrides=["stage.name=dpo", f"stage.init={init_dir}", override])
    assert err.value.key == key


def test_missing_or_wrong_kind_of_preference_data_fails_before_training(tmp_path, workspace, init_dir, jsonl):
    with pytest.raises(UserError, match="missing.jsonl"):
        trainer_for("dpo", tmp_path, workspace, init_dir, tmp_path / "missing.jsonl")
    chat = jsonl(tmp_path / "chat.jsonl", [{"conversations": [{"role": "user", "content": "hi"},
                                                              {"role": "assistant", "content": "hello"}]}] * 5)
    with pytest.raises(UserError, match="preference records"):
        trainer_for("reward", tmp_path, workspace, init_dir, chat)


# ---------------------------------------------------------------------------------------------- reward model

def test_reward_loss_reads_the_head_at_the_last_real_token(tmp_path, workspace, init_dir, pref_file):
    trainer = trainer_for("reward", tmp_path, workspace, init_dir, pref_file)
    stage, batch = trainer.stage, next(trainer.train_batches)
    scores = stage.scores(trainer.model, batch)
    # the same rows scored one at a time, unpadded, from the final norm's output
    for r in range(batch["ids"].shape[0]):
        n = int(batch["lengths"][r])
        ids = batch["ids"][r:r + 1, :n]
        assert int(ids[0, -1]) == trainer.p.tok.im_end_id
        hidden: list[torch.Tensor] = []
        h = trainer.model.norm.register_forward_hook(lambda m, i, o, seen=hidden: seen.append(o))
        trainer.model(ids)
        h.remove()
        alone = stage.head(hidden[0][0, -1]).squeeze()
        torch.testing.assert_close(scores[r], alone, atol=1e-5, rtol=1e-5)
    loss, extras = stage.loss(trainer.model, batch)
    torch.testing.assert_close(loss, reward_pair_loss(scores[:4], scores[4:]).sum())
    assert set(extras) == {"chosen_reward", "rejected_reward", "margin", "pref_accuracy"}


def test_reward_checkpoint_is_its_own_kind_and_loads_as_a_scorer(tmp_path, workspace, init_dir, pref_file, tok,
                                                                 model_cfg):
    cfg = load_config(overrides=[*TOY, "stage.name=reward", f"stage.init={init_dir}", f"data.train=[{pref_file}]",
                                 "run.max_steps=3"])
    out = tmp_path / "rm"
    assert run_training(cfg, workspace, NullSink(), CommandQueue(), out=str(out)) == "completed"
    step = ckpt.resolve_checkpoint(out)
    meta = json.loads((step / "config.json").read_text())
    assert meta["kind"] == "reward_model" and meta["stage"] == "reward"
    assert (step / "reward_head.safetensors").is_file()

    scorer = load_reward_model(out, "cpu")
    assert scorer.tokenizer_json == tok.to_json()
    ids = torch.tensor([tok.encode_chat([{"role": "user", "content": "What is 1 + 1?"},
                                         {"role": "assistant", "content": "2"}])[0][:-1]])
    padded = torch.cat([ids, torch.full((1, 3), tok.pad_id)], dim=1)
    both = scorer(torch.cat([padded, padded]), torch.tensor([ids.shape[1], ids.shape[1]]))
    assert both.shape == (2,) and both.dtype == torch.float32
    torch.testing.assert_close(both[0], scorer(ids, torch.tensor([ids.shape[1]]))[0])

    check_same_tokenizer(tok, out)  # the policy's own tokenizer passes
    from engine.tokenizer import train_tokenizer
    other = train_tokenizer(["a different corpus, with other merges " * 3, "完全不同的文字"] * 20, 300, 1)
    with pytest.raises(UserError, match="different tokenizer"):
        check_same_tokenizer(other, out)
    with pytest.raises(UserError, match="not a reward model"):
        load_reward_model(init_dir, "cpu")


def test_preference_set_holds_both_sides_with_reply_masks_and_is_reused_by_content(tmp_path, tok, jsonl):
    from engine.data.pretokenize import encode_pair, pretokenize
    records = pairs(6)
    records[2] = {**records[2], "tie": True}
    data = jsonl(tmp_path / "p.jsonl", records)
    first = pretokenize([data], "preference", tok, tmp_path / "data")
    assert first.n_docs == 12 and first.pairs.tolist() == [[0, line, int(line == 3)] for line in range(1, 7)]
    for i, rec in enumerate(records):
        (ci, cm), (ri, rm) = encode_pair(tok, {**rec, "prompt": [{"role": "user", "content": rec["prompt"]}]})
        a, b, c = first.offsets[2 * i], first.offsets[2 * i + 1], first.offsets[2 * i + 2]
        assert first.tokens[a:b].tolist() == ci and first.mask[a:b].tolist() == cm
        assert first.tokens[b:c].tolist() == ri and first.mask[b:c].tolist() == rm
        assert ci[-1] == tok.im_end_id and cm[-1] == 1                  # ends at the reply's <|im_end|>
        assert tok.decode([t for t, m in zip(ci, cm, strict=True) if m]).startswith(rec["chosen"])
    assert first.where(2) == f"{data}:3"
    assert pretokenize([data], "preference", tok, tmp_path / "data").folder == first.folder
    jsonl(data, records[:5])                                           # other content: another set
    assert pretokenize([data], "preference", tok, tmp_path / "data").folder != first.folder


def test_doctor_offers_the_preference_stages_their_knobs_and_the_rule_rewards():
    from engine.hardware import doctor_report
    options = doctor_report()["options"]
    info = {s["name"]: s for s in options["stage_info"]}
    assert info["dpo"]["kind"] == info["reward"]["kind"] == "preference"
    assert info["dpo"]["needs_init"] and info["reward"]["needs_init"]
    assert info["dpo"]["knobs"] == ["loss_type", "beta", "label_smoothing", "rpo_alpha"]
    assert info["reward"]["knobs"] == ["rm_negatives", "rm_center"]
    assert {"exact_match", "numeric_match", "format"} <= {r["name"] for r in options["rule_rewards"]}
    assert {"dpo", "reward"} <= set(options["stage_presets"])


def test_rpo_alpha_adds_the_chosen_replies_mean_nll(tmp_path, workspace, init_dir, pref_file):
    plain = trainer_for("dpo", tmp_path, workspace, init_dir, pref_file)
    rpo = trainer_for("dpo", tmp_path, workspace, init_dir, pref_file, "stage.rpo_alpha=0.5")
    batch = next(plain.train_batches)
    x, y = batch["ids"][:, :-1], batch["ids"][:, 1:].masked_fill(batch["mask"][:, 1:] == 0, -100)
    _, nll = plain.model(x[:4], y[:4], reduction="none")
    mean_nll = nll.sum(-1) / (y[:4] != -100).sum(-1)
    with torch.no_grad():
        base, _ = plain.stage.loss(plain.model, batch)
        more, _ = rpo.stage.loss(rpo.model, batch)
    torch.testing.assert_close(more - base, 0.5 * mean_nll.sum().detach(), atol=1e-4, rtol=1e-5)
