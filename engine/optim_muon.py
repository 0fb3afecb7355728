"""Muon on the blocks' 2-D matrices beside AdamW on everything else, as one optimizer object for the loop.

Muon (torch.optim.Muon) replaces each matrix's momentum update by its nearest semi-orthogonal matrix
(Newton-Schulz: O = U V^T for the momentum's SVD U S V^T), so every direction of the matrix moves at the same
rate; embeddings, the head and norm scales are not matrices in that sense and keep AdamW.
"""

from __future__ import annotations

import torch


class MuonWithAdamW:
    """Steps, zeroes, saves and loads both optimizers together; `param_groups` lists Muon's groups then
    AdamW's (the same dicts, so setting a group's lr reaches the optimizer that owns it)."""

    def __init__(self, muon: torch.optim.Optimizer, adamw: torch.optim.Optimizer):
        self.muon, self.adamw = muon, adamw

    @property
    def param_groups(self) -> list[dict]:
        return self.muon.param_groups + self.adamw.param_groups  # read anew: load_state_dict replaces the dicts

    @property
    def defaults(self) -> dict:
        return self.adamw.defaults        # where add_param_group sends a later group

    @property
    def state(self) -> dict:
        return {**self.muon.state, **self.adamw.state}

    def add_param_group(self, group: dict) -> None:
        self.adamw.add_param_group(group)

    @torch.no_grad()
    def step(self, closure=None) -> None:
        if closure is not None:
            raise ValueError("MuonWithAdamW.step takes no closure")
        self.muon.step()
        self.adamw.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.muon.zero_grad(set_to_none=set_to_none)
        self.adamw.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        return {"muon": self.muon.state_dict(), "adamw": self.adamw.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if set(state) != {"muon", "adamw"}:
            raise ValueError("this optimizer state was not saved by Muon with AdamW")
        self.muon.load_state_dict(state["muon"])
        self.adamw.load_state_dict(state["adamw"])
