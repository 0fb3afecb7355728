"""engine.checkpoint: atomic self-contained saves, pointers, resolution, strict and safe loading, pruning."""

from __future__ import annotations

import json
import math
import os
import random

import pytest
import torch
from safetensors import safe_open

from engine import checkpoint as ckpt
from engine.errors import UserError
from engine.model.gpt import GPT


class Hostile:
    """Any pickled object that is not plain data must be refused by weights_only loading."""

    def __reduce__(self):
        return (print, ("this must never run",))


class PlainObject:
    def __init__(self):
        self.x = 1


def make_model(model_cfg, seed=0, **overrides):
    torch.manual_seed(seed)
    cfg = model_cfg(**overrides)
    return GPT(cfg), cfg


def save(root, step, model, cfg, tok, state=None, meta=None):
    return ckpt.save_checkpoint(root, step, model, cfg, tok.to_json(), state, meta or {"stage": "pretrain"})


def hidden(root):
    return sorted(p.name for p in root.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("tied", [True, False])
def test_save_load_round_trip(model_cfg, tok, tmp_path, tied):
    model, cfg = make_model(model_cfg, tie_embeddings=tied)
    folder = save(tmp_path / "checkpoints", 10, model, cfg, tok)
    assert folder.name == "step-000010"
    assert {p.name for p in folder.iterdir()} == {"model.safetensors", "config.json", "tokenizer.json"}
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        assert ("lm_head.weight" in f.keys()) == (not tied)  # a tied head is stored once

    loaded_cfg = ckpt.model_config_of(folder)
    assert loaded_cfg == cfg
    other = GPT(loaded_cfg)
    ckpt.load_weights(other, folder)
    for (k, a), (_, b) in zip(model.state_dict().items(), other.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    x = torch.randint(0, cfg.vocab_size, (1, 8))
    assert torch.allclose(model.eval()(x)[0], other.eval()(x)[0])
    if tied:  # re-tied, not two copies that drift apart when training continues
        assert other.lm_head.weight is other.embed.weight
        with torch.no_grad():
            other.embed.weight[0, 0] += 1.0
        assert other.lm_head.weight[0, 0] == other.embed.weight[0, 0]


def test_checkpoint_is_self_contained(model_cfg, tok, tmp_path):
    model, cfg = make_model(model_cfg)
    folder = save(tmp_path / "checkpoints", 3, model, cfg, tok, meta={"stage": "sft", "val_loss": 2.5})
    meta = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert meta["step"] == 3 and meta["stage"] == "sft" and meta["val_loss"] == 2.5
    assert meta["format_version"] == ckpt.FORMAT_VERSION and "engine_version" in meta
    assert (folder / "tokenizer.json").read_text(encoding="utf-8") == tok.to_json()


def test_save_is_atomic_and_points_latest(model_cfg, tok, tmp_path):
    model, cfg = make_model(model_cfg)
    root = tmp_path / "checkpoints"
    save(root, 1, model, cfg, tok)
    save(root, 2, model, cfg, tok)
    assert hidden(root) == []  # no temporary folders or pointer files left behind
    assert (root / "latest").read_text().strip() == "step-000002"
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["step-000001", "step-000002"]


def test_saving_the_same_step_twice_replaces_it(model_cfg, tok, tmp_path):
    root = tmp_path / "checkpoints"
    first, cfg = make_model(model_cfg, seed=0)
    second, _ = make_model(model_cfg, seed=1)
    save(root, 5, first, cfg, tok)
    folder = save(root, 5, second, cfg, tok)
    assert hidden(root) == []
    loaded = GPT(cfg)
    ckpt.load_weights(loaded, folder)
    assert torch.equal(loaded.embed.weight, second.embed.weight)
    assert (root / "latest").read_text().strip() == "step-000005"


def test_resolve_checkpoint_from_run_checkpoints_or_step_folder(model_cfg, tok, tmp_path):
    model, cfg = make_model(model_cfg)
    run = tmp_path / "run"
    save(run / "checkpoints", 1, model, cfg, tok)
    step2 = save(run / "checkpoints", 2, model, cfg, tok)
    step1 = run / "checkpoints" / "step-000001"
    assert ckpt.resolve_checkpoint(run) == step2.resolve()
    assert ckpt.resolve_checkpoint(run / "checkpoints") == step2.resolve()
    assert ckpt.resolve_checkpoint(step1) == step1.resolve()
    assert ckpt.resolve_checkpoint(str(step1)) == step1.resolve()


def test_resolve_checkpoint_errors_are_clear(tmp_path):
    with pytest.raises(UserError, match="no such"):
        ckpt.resolve_checkpoint(tmp_path / "missing")
    empty = tmp_path / "empty-run"
    (empty / "checkpoints").mkdir(parents=True)
    with pytest.raises(UserError) as e:
        ckpt.resolve_checkpoint(empty)
    assert "no checkpoint" in str(e.value) and e.value.hint
    # A `latest` naming a folder that is gone is not a checkpoint either.
    (empty / "checkpoints" / "latest").write_text("step-000009\n")
    with pytest.raises(UserError, match="no checkpoint"):
        ckpt.resolve_checkpoint(empty)


def test_truncated_weights_are_a_user_error_naming_the_file(model_cfg, tok, tmp_path):
    model, cfg = make_model(model_cfg)
    folder = save(tmp_path / "checkpoints", 1, model, cfg, tok)
    file = folder / "model.safetensors"
    data = file.read_bytes()
    for cut in (len(data) // 2, 5, 0):
        file.write_bytes(data[:cut])
        with pytest.raises(UserError) as e:
            ckpt.load_weights(GPT(cfg), folder)
        assert "model.safetensors" in str(e.value), cut


def test_missing_weights_file_is_a_user_error(model_cfg, tok, tmp_path):
    model, cfg = make_model(model_cfg)
    folder = save(tmp_path / "checkpoints", 1, model, cfg, tok)
    (folder / "model.safetensors").unlink()
    with pytest.raises(UserError, match="model.safetensors"):
        ckpt.load_weights(GPT(cfg), folder)


@pytest.mark.parametrize("other", [{"d_model": 64}, {"n_layer": 3}, {"tie_embeddings": False}, {"vocab_size": 300}])
def test_weights_from_a_different_shape_do_not_match(model_cfg, tok, tmp_path, other):
    model, cfg = make_model(model_cfg)
    folder = save(tmp_path / "checkpoints", 1, model, cfg, tok)
    with pytest.raises(UserError, match="do not match"):
        ckpt.load_weights(GPT(model_cfg(**other)), folder)


def test_untied_weights_do_not_load_into_a_tied_model(model_cfg, tok, tmp_path):
    model, cfg = make_model(model_cfg, tie_embeddings=False)
    folder = save(tmp_path / "checkpoints", 1, model, cfg, tok)
    with pytest.raises(UserError, match="do not match"):
        ckpt.load_weights(GPT(model_cfg()), folder)


def test_damaged_config_json_is_a_user_error(model_cfg, tok, tmp_path):
    model, cfg = make_model(model_cfg)
    folder = save(tmp_path / "checkpoints", 1, model, cfg, tok)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(UserError, match="config.json"):
        ckpt.model_config_of(folder)
    (folder / "config.json").write_text(json.dumps({"model": {"d_model": 30, "n_head": 4}}))
    with pytest.raises(UserError, match="config.json"):
        ckpt.model_config_of(folder)


@pytest.mark.parametrize("content", ['{"model": {"d_model": "abc"}}', "[1, 2]", '{"model": [1]}'],
                         ids=["wrong-type", "list", "model-list"])
def test_config_json_with_wrong_types_is_a_user_error(model_cfg, tok, tmp_path, content):
    model, cfg = make_model(model_cfg)
    folder = save(tmp_path / "checkpoints", 1, model, cfg, tok)
    (folder / "config.json").write_text(content)
    with pytest.raises(UserError, match="config.json"):
        ckpt.model_config_of(folder)


def test_config_without_format_version_still_loads(model_cfg, tok, tmp_path):
    model, cfg = make_model(model_cfg)
    folder = save(tmp_path / "checkpoints", 1, model, cfg, tok)
    meta = json.loads((folder / "config.json").read_text())
    del meta["format_version"]
    (folder / "config.json").write_text(json.dumps(meta))
    assert ckpt.model_config_of(folder) == cfg


@pytest.mark.parametrize("change", ["unknown_key", "newer_format"])
def test_checkpoint_from_a_newer_engine_is_refused_clearly(model_cfg, tok, tmp_path, change):
    """Dropping settings we do not know (say, a newer engine's experts) would build the wrong model."""
    model, cfg = make_model(model_cfg)
    folder = save(tmp_path / "checkpoints", 1, model, cfg, tok)
    meta = json.loads((folder / "config.json").read_text())
    if change == "unknown_key":
        meta["model"]["n_expert"] = 8
    else:
        meta["format_version"] = ckpt.FORMAT_VERSION + 1
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="n_expert|newer") as e:
        ckpt.model_config_of(folder)
    assert "update" in e.value.hint


def realistic_trainer_state(model):
    """What the training loop saves: optimizer state, data cursor, torch and Python RNG, floats incl. inf."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    _, loss = model(torch.randint(0, model.cfg.vocab_size, (2, 8)), torch.randint(0, model.cfg.vocab_size, (2, 8)))
    loss.backward()
    opt.step()
    return {"step": 7, "tokens_seen": 1234, "best_val": math.inf, "optimizer": opt.state_dict(),
            "data": {"epoch": 1, "index": 3}, "rng": {"torch": torch.get_rng_state(), "python": random.getstate()}}


def test_trainer_state_round_trips_with_weights_only(model_cfg, tok, tmp_path):
    model, cfg = make_model(model_cfg)
    state = realistic_trainer_state(model)
    folder = save(tmp_path / "checkpoints", 7, model, cfg, tok, state=state)
    loaded = ckpt.load_trainer_state(folder)
    assert loaded["step"] == 7 and loaded["best_val"] == math.inf and loaded["data"] == {"epoch": 1, "index": 3}
    assert torch.equal(loaded["rng"]["torch"], state["rng"]["torch"])
    random.setstate(loaded["rng"]["python"])  # accepted as Python's own state object
    assert random.getstate() == state["rng"]["python"]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    opt.load_state_dict(loaded["optimizer"])
    first = next(iter(opt.state.values()))
    assert torch.equal(first["exp_avg"], next(iter(state["optimizer"]["state"].values()))["exp_avg"])


@pytest.mark.parametrize("payload", [Hostile(), PlainObject(), {"ok": 1, "bad": PlainObject()}],
                         ids=["reduce", "custom-class", "nested"])
def test_trainer_state_with_pickled_objects_is_refused(model_cfg, tok, tmp_path, payload, capsys):
    model, cfg = make_model(model_cfg)
    folder = save(tmp_path / "checkpoints", 1, model, cfg, tok)
    torch.save(payload, folder / "trainer_state.pt")
    with pytest.raises(UserError, match="trainer_state.pt"):
        ckpt.load_trainer_state(folder)
    assert "this must never run" not in capsys.readouterr().out


def test_missing_trainer_state_says_use_init(model_cfg, tok, tmp_path):
    model, cfg = make_model(model_cfg)
    folder = save(tmp_path / "checkpoints", 1, model, cfg, tok)
    with pytest.raises(UserError) as e:
        ckpt.load_trainer_state(folder)
    assert "--init" in e.value.hint


def test_garbage_trainer_state_is_a_user_error(model_cfg, tok, tmp_path):
    model, cfg = make_model(model_cfg)
    folder = save(tmp_path / "checkpoints", 1, model, cfg, tok)
    (folder / "trainer_state.pt").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(UserError, match="trainer_state.pt"):
        ckpt.load_trainer_state(folder)


def test_prune_keeps_the_newest_and_latest_and_best(model_cfg, tok, tmp_path):
    model, cfg = make_model(model_cfg)
    root = tmp_path / "checkpoints"
    for step in (100, 200, 300, 400, 500):
        save(root, step, model, cfg, tok)
    ckpt.write_pointer(root, "best", "step-000200")
    ckpt.prune_checkpoints(root, keep_last=0)
    assert len(list(root.glob("step-*"))) == 5  # 0 keeps all
    ckpt.prune_checkpoints(root, keep_last=2)
    assert sorted(p.name for p in root.glob("step-*")) == ["step-000200", "step-000400", "step-000500"]
    assert ckpt.resolve_checkpoint(root).name == "step-000500"
    # `latest` pointing at an older step (e.g. after a resume) is protected too.
    ckpt.write_pointer(root, "latest", "step-000400")
    ckpt.prune_checkpoints(root, keep_last=1)
    assert sorted(p.name for p in root.glob("step-*")) == ["step-000200", "step-000400", "step-000500"]


def test_prune_orders_steps_numerically_past_six_digits(tmp_path):
    root = tmp_path / "checkpoints"
    for step in (999_998, 999_999, 1_000_000, 1_000_001):
        (root / ckpt.step_dir_name(step)).mkdir(parents=True)
    ckpt.write_pointer(root, "latest", ckpt.step_dir_name(1_000_001))
    ckpt.prune_checkpoints(root, keep_last=2)
    assert sorted(p.name for p in root.glob("step-*")) == ["step-1000000", "step-1000001"]


def test_non_finite_weights_are_refused_naming_the_tensor_and_the_file(model_cfg, tok, tmp_path):
    model, cfg = make_model(model_cfg)
    with torch.no_grad():
        model.blocks[0].attn.q_proj.weight[1, 2] = math.inf
    folder = save(tmp_path / "checkpoints", 1, model, cfg, tok)
    with pytest.raises(UserError) as e:
        ckpt.load_weights(GPT(cfg), folder)
    assert str(folder / "model.safetensors") in e.value.message and "blocks.0.attn.q_proj.weight" in e.value.message
    assert "non-finite" in e.value.message and "lr" in e.value.hint


def test_orphans_of_dead_saves_are_tidied_and_live_ones_kept(model_cfg, tok, tmp_path):
    import subprocess
    import sys
    model, cfg = make_model(model_cfg)
    root = tmp_path / "checkpoints"
    save(root, 1, model, cfg, tok)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (root / "step-000001").rename(root / f".step-000001.old-{dead.pid}")  # killed between the two renames
    (root / f".step-000002.tmp-{dead.pid}").mkdir()
    (root / f".step-000003.tmp-{os.getpid()}").mkdir()
    (root / ".latest.tmp").write_text("step-0")
    notes = ckpt.clean_orphans(root)
    assert len(notes) == 3 and any("restored step-000001" in n for n in notes)
    assert hidden(root) == [f".step-000003.tmp-{os.getpid()}"]
    assert ckpt.missing_parts(root / "step-000001", resumable=False) == []


def test_a_run_folder_resolves_to_its_newest_whole_checkpoint_when_latest_is_unusable(model_cfg, tok, tmp_path):
    model, cfg = make_model(model_cfg)
    root = tmp_path / "run" / "checkpoints"
    save(root, 1, model, cfg, tok)
    save(root, 2, model, cfg, tok)
    (root / "step-000003").mkdir()  # a step folder without files is not a checkpoint
    (root / "latest").write_text("step-000009\n")
    assert ckpt.resolve_checkpoint(tmp_path / "run").name == "step-000002"
    assert ckpt.newest_complete(root, resumable=False).name == "step-000002"
    assert ckpt.newest_complete(root) is None  # none holds a trainer_state.pt to resume from
    assert ckpt.missing_parts(root / "step-000003")[0] == "no model.safetensors"
