"""A reward-model ensemble for PPO/GRPO: `stage.reward` given as a list of reward-checkpoint folders. Each member
scores every reply; its scores are standardised with its own mean and std, and the members' standardised scores are
combined by `stage.reward_combine`: their mean, or their minimum (a pessimistic ensemble: a reply the policy found
to fool one reward model is scored by the member it did not fool). It knows nothing about rollouts or losses.

Scales differ between reward models (one spreads over +-10, another over +-3), so a plain mean would follow the
loudest member. Each member's mean and std are fixed on the first batch the ensemble scores (the step-0 evaluation's
greedy replies to held-out prompts when run.eval_every > 0, else the first rollout; so the scale depends on that
choice) and kept with the stage's state, so the scale is one function of a reply for the whole run and across a
resume. A member whose first scores are (nearly) all equal keeps a std of 1 rather than one that would multiply its
later scores a millionfold:
  z_k(x) = (s_k(x) - mu_k) / sigma_k;   r(x) = mean_k z_k(x)   or   min_k z_k(x)
"""

from __future__ import annotations

import torch

COMBINES = ("mean", "min")
STD_FLOOR = 1e-3   # relative to max(1, |mean|): below it a member's first batch has no spread to scale by


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
            mean = raw.mean(dim=1)
            std = raw.std(dim=1, unbiased=False) if raw.shape[1] > 1 else torch.ones(len(self.members))
            flat = std < STD_FLOOR * mean.abs().clamp(min=1.0)   # no spread to learn a scale from
            self.calibration = torch.stack([mean, torch.where(flat, torch.ones_like(std), std)], dim=1)
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
