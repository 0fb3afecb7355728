"""PPO at a rollout temperature tau != 1: the log-probs it trains on are those of the distribution the rollout drew
from, softmax(z / tau), worked out here on a three-word vocabulary and checked on a toy model."""

from __future__ import annotations

import math

import pytest
import torch

from engine.model.gpt import GPT
from engine.train import rollout as ro


class FixedLogits(torch.nn.Module):
    """A 'model' whose logits are (0, ln 2, ln 4) at every position, so the hand computation is exact."""

    def forward(self, x, y, reduction="none", return_aux=False):
        B, T = x.shape
        logits = torch.log(torch.tensor([1.0, 2.0, 4.0])).expand(B, T, 3).clone()
        nll = torch.nn.functional.cross_entropy(logits.reshape(-1, 3), y.reshape(-1), ignore_index=-100,
                                                reduction="none").view(B, T)
        return logits, nll, None


def test_tempered_log_probs_match_a_hand_computed_value():
    batch = {"x": torch.zeros(1, 2, dtype=torch.long), "y": torch.tensor([[2, -100]])}
    # tau 1: p(word 2) = 4 / 7; tau 0.5 squares the odds: 16 / (1 + 4 + 16) = 16 / 21
    assert float(ro.policy_logprobs(FixedLogits(), batch)[1][0, 0]) == pytest.approx(math.log(4 / 7), abs=1e-6)
    _, logp, _ = ro.policy_logprobs(FixedLogits(), batch, temperature=0.5)
    assert float(logp[0, 0]) == pytest.approx(math.log(16 / 21), abs=1e-6)
    assert float(logp[0, 1]) == 0.0                                       # outside the reply
    frozen = ro.frozen_logprobs(FixedLogits(), batch, temperature=0.5)
    assert float(frozen[0, 0]) == pytest.approx(math.log(16 / 21), abs=1e-6)


def test_tempered_log_probs_of_a_real_model_are_its_scaled_softmax(model_cfg):
    torch.manual_seed(0)
    model = GPT(model_cfg()).eval()
    batch = ro.build_rows([[1, 2, 3], [4, 5]], [[7, 8], [9, 10, 11]], pad_id=0)
    with torch.no_grad():
        logits, logp, _ = ro.policy_logprobs(model, batch, temperature=0.7)
        raw = model(batch["x"])[0]
    want = torch.log_softmax(raw.float() / 0.7, -1).gather(-1, batch["y"].clamp(min=0).unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(logp, want * batch["mask"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits, raw / 0.7)
