"""stage.reward as a list of reward-model checkpoints (an ensemble): the members' scores standardised on the first
batch and combined by their mean or min (hand-worked), the scale kept across a resume (through the trainer's
state), real toy reward checkpoints scored in a GRPO rollout, and every bad entry refused before training, naming
its position in the list."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine import checkpoint as ckpt
from engine.config import load_config
from engine.errors import UserError
from engine.model.gpt import GPT
from engine.train.reward import HEAD_FILE, REWARD_KIND, reward_head
from engine.train.reward_ensemble import EnsembleSource, combine_scores
from engine.train.reward_source import ModelSource, build_reward_source
from tests.engine.test_rl_stages import init_dir, prompts, rl_trainer  # noqa: F401 (fixtures)


def test_members_are_standardised_then_averaged_or_minimised():
    cal = torch.tensor([[3.0, 1.0], [5.0, 5.0]], dtype=torch.float64)           # (mean, std) of each member
    raw = torch.tensor([[2.0, 4.0], [0.0, 10.0]], dtype=torch.float64)          # z = (-1, 1) and (-1, 1)
    assert combine_scores(raw, cal, "mean").tolist() == [-1.0, 1.0]
    raw = torch.tensor([[2.0, 4.0], [10.0, 0.0]], dtype=torch.float64)          # z = (-1, 1) and (1, -1): disagree
    assert combine_scores(raw, cal, "mean").tolist() == [0.0, 0.0]
    assert combine_scores(raw, cal, "min").tolist() == [-1.0, -1.0]             # each reply fails one member


class Member:
    """A member's contract (reward_source.ModelSource): score(messages, answers, texts) -> floats."""

    def __init__(self, name: str, scale: float):
        self.name, self.scale = name, scale

    def score(self, messages, answers, texts):
        return [self.scale * len(t) for t in texts]


def test_the_scale_is_fixed_on_the_first_batch_and_survives_a_resume():
    ens = EnsembleSource([Member("a", 1.0), Member("b", 100.0)], "mean")
    first = ens.score([[]] * 3, [None] * 3, ["x", "xx", "xxx"])
    # both members rank alike; standardised, the loud member (x100) weighs no more than the quiet one
    assert first == pytest.approx([-1.224745, 0.0, 1.224745], abs=1e-6)
    later = ens.score([[]] * 2, [None] * 2, ["xxxx", "x"])                       # the first batch's scale, not its own
    assert later == pytest.approx([2.449490, -1.224745], abs=1e-6)
    resumed = EnsembleSource([Member("a", 1.0), Member("b", 100.0)], "mean")
    resumed.load_state_dict(ens.state_dict())
    assert resumed.score([[]] * 2, [None] * 2, ["xxxx", "x"]) == later


def reward_checkpoint(root: Path, tok, model_cfg, seed: int, tokenizer_json: str | None = None) -> Path:
    """A real (toy, untrained) reward-model checkpoint: transformer, scalar head, tokenizer, kind reward_model."""
    torch.manual_seed(seed)
    cfg = model_cfg(vocab_size=tok.vocab_size)
    model, head = GPT(cfg), reward_head(cfg.d_model)
    ckpt.save_checkpoint(root / "checkpoints", 0, model, cfg, tokenizer_json or tok.to_json(), None,
                         {"stage": "reward", "kind": REWARD_KIND}, extra_weights={HEAD_FILE: head.state_dict()})
    return root


def test_an_ensemble_of_reward_checkpoints_scores_a_rollout(tmp_path, workspace, init_dir, prompts, tok,  # noqa: F811
                                                            model_cfg):
    rms = [reward_checkpoint(tmp_path / f"rm{k}", tok, model_cfg, seed=k) for k in range(2)]
    trainer = rl_trainer(tmp_path, workspace, init_dir, prompts, "grpo", f"stage.reward=[{rms[0]}, {rms[1]}]",
                         "stage.reward_combine=min")
    stage = trainer.stage
    assert isinstance(stage.reward, EnsembleSource) and stage.reward.combine == "min"
    assert all(isinstance(m, ModelSource) for m in stage.reward.members)
    batch = next(trainer.train_batches)
    assert stage.reward.calibration is not None and stage.reward.calibration.shape == (2, 2)
    assert float(batch["reward_std"]) > 0                                       # the members' scores differ by reply
    saved = tmp_path / "trainer_state.pt"                     # as a checkpoint stores it, and reads it back safely
    torch.save(trainer.trainer_state(), saved)
    resumed = rl_trainer(tmp_path, workspace, init_dir, prompts, "grpo", f"stage.reward=[{rms[0]}, {rms[1]}]",
                         "stage.reward_combine=min")
    resumed.load_trainer_state(torch.load(saved, weights_only=True))
    assert torch.equal(resumed.stage.reward.calibration, stage.reward.calibration)   # the same scale after a resume
    one = build_reward_source([str(rms[0])], tok, torch.device("cpu"), 64)
    assert isinstance(one, ModelSource)                                         # a list of one is that one source


def test_bad_entries_are_refused_naming_their_position(tmp_path, workspace, init_dir, prompts, tok,  # noqa: F811
                                                       model_cfg):
    rm = reward_checkpoint(tmp_path / "rm0", tok, model_cfg, seed=0)
    other = reward_checkpoint(tmp_path / "rm1", tok, model_cfg, seed=1, tokenizer_json='{"another": "tokenizer"}')
    for entry, says in (("exact_match", "not a reward-model checkpoint folder"), (tmp_path / "missing", "no such"),
                        (other, "different tokenizer")):
        with pytest.raises(UserError, match=r"stage\.reward\[1\]") as e:
            rl_trainer(tmp_path, workspace, init_dir, prompts, "ppo", f"stage.reward=[{rm}, {entry}]")
        assert says in e.value.message
    with pytest.raises(UserError, match=r"stage\.reward\[1\]"):
        load_config(overrides=["stage.name=ppo", "stage.init=/x", f"stage.reward=[{rm}, '']"])
    with pytest.raises(UserError, match="stage.reward_combine"):
        load_config(overrides=["stage.name=ppo", "stage.init=/x", "stage.reward_combine=max"])
    cfg = load_config(overrides=["stage.name=ppo", "stage.init=/x", "stage.reward=[./a, ./b]"])
    assert all(Path(p).is_absolute() for p in cfg.stage.reward)                 # folders resolved as one folder is


def test_a_member_without_spread_on_its_first_batch_keeps_a_unit_scale():
    """A std of ~0 on the first batch would multiply that member's later scores a millionfold and let it decide
    the ensemble alone; it keeps std 1 instead."""
    from engine.train.reward_ensemble import EnsembleSource

    class Fixed:
        name = "fixed"

        def __init__(self, values):
            self.values = iter(values)

        def score(self, messages, answers, texts):
            return next(self.values)

    flat, spread = Fixed([[5.0, 5.0], [6.0, 5.0]]), Fixed([[0.0, 2.0], [0.0, 2.0]])
    ens = EnsembleSource([flat, spread], "mean")
    assert ens.score([[], []], [None, None], ["a", "b"]) == [-0.5, 0.5]    # flat: z = 0; spread: z = -1, +1
    assert ens.calibration[0].tolist() == [5.0, 1.0]
    assert ens.score([[], []], [None, None], ["a", "b"]) == [0.0, 0.5]     # flat's +1 counts as 1, not 1e6
