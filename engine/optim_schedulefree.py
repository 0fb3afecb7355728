"""Schedule-free AdamW (the `schedulefree` package) whose eval/train switch is exact, so a save never moves training.

Schedule-free trains at y = (1 - beta1) z + beta1 x but evaluates and saves the average x. The package moves
between them by interpolation, which rounds: eval() then train() does not give back y bit for bit. Here eval()
keeps y in the optimizer state and train() restores it, so a checkpoint (x, and y in trainer_state.pt) resumes
exactly, and a run that saved takes the same steps as one that did not.
"""

from __future__ import annotations

import torch
from schedulefree import AdamWScheduleFree


class ScheduleFreeAdamW(AdamWScheduleFree):
    @torch.no_grad()
    def eval(self) -> None:
        for group in self.param_groups:
            if group["train_mode"]:
                for p in group["params"]:
                    if "z" in self.state[p]:
                        self.state[p]["y"] = p.detach().clone()
        super().eval()

    @torch.no_grad()
    def train(self) -> None:
        super().train()
        for group in self.param_groups:
            for p in group["params"]:
                y = self.state[p].pop("y", None) if p in self.state else None
                if y is not None:
                    p.copy_(y)
