"""A reward-model ensemble for PPO/GRPO: `stage.reward` given as a list of reward-checkpoint folders. Each member
scores every reply; its scores are standardised with its own mean and std, and the members' standardised scores are
combined by `stage.reward_combine`: their mean, or their minimum (a pessimistic ensemble: a reply the policy found
to fool one reward model is scored by the member it did not fool). It knows nothing about rollouts or losses.

Scales differ between reward models (one spreads over +-10, another over +-3), so a plain mean would follow the
loudest member. Each member's mean and std are fixed on the first batch the ensemble scores (the first rollout) and
kept with the stage's state, so the scale is one function of a reply for the whole run and across a resume:
  z_k(x) = (s_k(x) - mu_k) / sigma_k;   r(x) = mean_k z_k(x)   or   min_k z_k(x)
"""

from __future__ import annotations

import torch

COMBINES = ("mean", "min")


class EnsembleSource:
    """Several reward-model sources (each a reward_source.ModelSource) scored as one."""

    needs_answer = False

    def __init__(self, members: list, combine: str):
        if combine not in COMBINES:
            raise ValueError(f"combine must be one of {COMBINES}, got {combine!r}")
        self.members, self.combine = members, combine
        self.name = " + ".join(m.name for m in members)
        self.calibration: torch.Tensor | None = None     # (K, 2): each member's mean and std, from its first batch

    def score(self, messages: list[list[dict]], answers: list[str | None], texts: list[str]) -> list[float]:
        raw = torch.tensor([m.score(messages, answers, texts) for m in self.members], dtype=torch.float64)  # (K, N)
        if self.calibration is None:
            std = raw.std(dim=1, unbiased=False) if raw.shape[1] > 1 else torch.ones(len(self.members))
            self.calibration = torch.stack([raw.mean(dim=1), std.clamp(min=1e-6)], dim=1)
        return combine_scores(raw, self.calibration, self.combine).tolist()

    def state_dict(self) -> dict:
        return {"calibration": None if self.calibration is None else self.calibration.clone()}

    def load_state_dict(self, state: dict) -> None:
        cal = state.get("calibration")
        self.calibration = None if cal is None else torch.as_tensor(cal, dtype=torch.float64)


def combine_scores(raw: torch.Tensor, calibration: torch.Tensor, combine: str) -> torch.Tensor:
    """(K, N) member scores -> (N,) ensemble scores: standardise each member's row by its (mean, std), then the
    mean or the minimum over members. E.g. members scoring (2, 4) with (3, 1) and (0, 10) with (5, 5):
    z = (-1, 1) and (-1, 1), mean (-1, 1)."""
    z = (raw - calibration[:, :1]) / calibration[:, 1:]
    return z.mean(dim=0) if combine == "mean" else z.min(dim=0).values
