"""Synthetic negatives for the reward model: each training pair's chosen reply is also ranked above an empty reply and
above another pair's chosen reply (off-topic), both built from the batch's own tokens.

Why: preference data pairs a right reply with a plausible wrong one, so the reward model never sees the replies a
policy drifts to under PPO (nothing, or fluent text that answers another question) and scores them at random, often
above a right answer: PPO then learns to say nothing (reward hacking). With stage.rm_negatives = w the loss adds

  L_neg = w * 1/2 * ( -log sigma(r(x, y_w) - r(x, <|im_end|>))  -  log sigma(r(x, y_w) - r(x, y_w of another x)) )

per pair. Held-out pairwise accuracy is measured on the real pairs only.
"""

from __future__ import annotations

import torch


def reply_starts(mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Index of each row's last reply's first token: the start of the run of mask = 1 that ends at the row's last
    real token (<|im_end|>). Earlier assistant turns of a multi-turn prompt stay part of the prompt."""
    R, L = mask.shape
    pos = torch.arange(L, device=mask.device).expand(R, L)
    outside = (mask == 0) & (pos < lengths.unsqueeze(1))            # prompt tokens (and the header) before the end
    return torch.where(outside, pos, torch.full_like(pos, -1)).amax(1) + 1


def synthetic_negatives(ids: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor, im_end_id: int, pad_id: int
                        ) -> dict[str, torch.Tensor]:
    """Rows ranked below the chosen rows ids (B, L) (right-padded, lengths (B,)): B empty replies (the prompt then
    <|im_end|>) followed by B off-topic ones (row i's prompt with row i+1's reply; with B = 1 the pair is skipped by
    `valid`). Returns {"ids" (2B, L'), "lengths" (2B,), "valid" (2B,) bool}: an off-topic reply identical to the
    row's own is not a negative."""
    B = ids.shape[0]
    starts = reply_starts(mask, lengths)
    rows: list[torch.Tensor] = []
    for i in range(B):
        prompt = ids[i, :starts[i]]
        rows.append(torch.cat([prompt, prompt.new_tensor([im_end_id])]))
    valid = [True] * B
    for i in range(B):
        j = (i + 1) % B
        own, other = ids[i, starts[i]:lengths[i]], ids[j, starts[j]:lengths[j]]
        rows.append(torch.cat([ids[i, :starts[i]], other]))
        valid.append(j != i and not torch.equal(own, other))
    out_len = torch.tensor([len(r) for r in rows], device=ids.device)
    out = torch.full((len(rows), int(out_len.max())), pad_id, dtype=ids.dtype, device=ids.device)
    for k, r in enumerate(rows):
        out[k, :len(r)] = r
    return {"ids": out, "lengths": out_len, "valid": torch.tensor(valid, device=ids.device)}


def negatives_loss(r_chosen: torch.Tensor, r_negatives: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Per pair 1/2 * sum over its two negatives of -log sigma(r_chosen - r_negative), summed over the pairs:
    r_chosen (B,), r_negatives (2B,) = B empty then B off-topic, valid (2B,) bool (an invalid one adds 0).

    E.g. r_chosen 1, negatives 0 (empty) and 1 (off-topic): (log(1 + e^-1) + log 2) / 2 = 0.503204.
    """
    B = r_chosen.shape[0]
    per = -torch.nn.functional.logsigmoid(r_chosen.repeat(2) - r_negatives) * valid.to(r_chosen.dtype)
    return 0.5 * per.view(2, B).sum(0).sum()
