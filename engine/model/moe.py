"""The mixture-of-experts feed-forward a block holds instead of its dense MLP (model.moe), and the router's losses.

For N tokens x (N, C), E routed experts, k experts per token and S shared experts:
  p      = softmax(x W_r)                 (N, E) router probabilities, in fp32
  (w, e) = top_k(p);  w <- w / sum_j w_j  each token's k experts and their weights, renormalised to sum to 1
  y      = sum_j w_j FFN_{e_j}(x) + FFN_shared(x)       (the S shared experts see every token, unweighted)
  aux    = E * sum_i f_i P_i              f_i: share of the N k routed slots expert i got, P_i: mean_t p_ti
                                          (1 when both are uniform, its minimum; E when one expert takes all)
  z      = mean_t logsumexp(x_t W_r)^2    keeps the router's logits small (ST-MoE)
Dropless: no capacity, no token is dropped. The N k slots are sorted by expert (argsort), each expert's rows run as
one grouped matmul over the sorted rows (F.grouped_mm, group ends from the per-expert counts), and the weighted rows
are summed back into their tokens with index_add_: no Python loop over tokens or experts, and no host sync.
It knows nothing about the training loop: it returns its statistics (RouterStats) and the model passes them out.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.config import ModelConfig


@dataclass
class RouterStats:
    """What the MoE layers of one forward report (averaged over layers): the coefficient-weighted router loss to
    add to the stage's loss, its two parts, and the share of routed slots each expert got."""
    loss: torch.Tensor          # () aux_loss_coef * aux_loss + z_loss_coef * z_loss, differentiable
    aux_loss: torch.Tensor      # () load-balancing loss, 1.0 when balanced
    z_loss: torch.Tensor        # () router z-loss
    expert_load: torch.Tensor   # (E,) share of the routed slots per expert, sums to 1

    def extras(self) -> dict[str, torch.Tensor]:
        """The step event's keys (aux_loss, z_loss, expert_load), detached."""
        return {"aux_loss": self.aux_loss.detach(), "z_loss": self.z_loss.detach(),
                "expert_load": self.expert_load.detach()}

    @staticmethod
    def mean(stats: list[RouterStats]) -> RouterStats:
        n = len(stats)
        return RouterStats(*(sum(getattr(s, f) for s in stats) / n
                             for f in ("loss", "aux_loss", "z_loss", "expert_load")))


def load_balancing_loss(probs: torch.Tensor, experts: torch.Tensor, num_experts: int) -> tuple[torch.Tensor,
                                                                                                torch.Tensor]:
    """(E * sum_i f_i P_i, f): probs (N, E) router probabilities, experts (N, k) the chosen experts.

    f_i counts routed slots (not differentiable); the gradient flows through P_i = mean_t p_ti and pushes
    probability away from the experts that got more than their share."""
    counts = torch.bincount(experts.reshape(-1), minlength=num_experts)            # (E,)
    f = counts.to(probs.dtype) / experts.numel()
    return num_experts * (f * probs.mean(dim=0)).sum(), f


def router_z_loss(logits: torch.Tensor) -> torch.Tensor:
    """mean_t logsumexp(logits_t)^2 over the tokens: logits (N, E)."""
    return torch.logsumexp(logits, dim=-1).pow(2).mean()


def route(logits: torch.Tensor, top_k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(probs (N, E), weights (N, k) summing to 1 per token, experts (N, k)) from router logits (N, E)."""
    probs = logits.float().softmax(dim=-1)
    weights, experts = probs.topk(top_k, dim=-1)
    return probs, weights / weights.sum(dim=-1, keepdim=True), experts


def activate(activation: str, gate: torch.Tensor | None, up: torch.Tensor) -> torch.Tensor:
    """The MLP's hidden activation: gated (swiglu, geglu) or not (gelu, relu2 = relu(x)^2)."""
    if activation == "swiglu":
        return F.silu(gate) * up
    if activation == "geglu":
        return F.gelu(gate, approximate="tanh") * up
    if activation == "relu2":
        return F.relu(up).square()
    return F.gelu(up, approximate="tanh")


def grouped_linear(x: torch.Tensor, w: torch.Tensor, ends: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Rows of x sorted by group, each times its group's weight: x (M, in), w (G, out, in) -> (M, out).

    `ends` (G,) int32: where each group's rows end (a cumulative sum of `counts`). F.grouped_mm runs every group
    in one call on CPUs and on CUDA GPUs with bf16 (compute capability 8.0+). Elsewhere (fp32 on CUDA, MPS) there
    is no batched kernel for groups of unequal size, so this loops over the G experts (never over tokens): one
    matmul per expert, which needs the counts on the host once per call."""
    if _grouped_mm_ok(x):
        return F.grouped_mm(x, w.transpose(-2, -1), offs=ends)
    parts = [xi @ wi.T for xi, wi in zip(x.split(counts.tolist()), w, strict=True)]
    return torch.cat(parts) if parts else x.new_zeros(0, w.shape[1])


def _grouped_mm_ok(x: torch.Tensor) -> bool:
    if x.device.type == "cpu":
        return True
    return (x.device.type == "cuda" and x.dtype == torch.bfloat16
            and torch.cuda.get_device_capability(x.device) >= (8, 0))


class Experts(nn.Module):
    """E feed-forwards of one shape, stored stacked as (E, out, in) like nn.Linear weights."""

    def __init__(self, num: int, d_model: int, hidden: int, activation: str):
        super().__init__()
        self.activation = activation
        gated = activation in ("swiglu", "geglu")
        self.up_proj = nn.Parameter(torch.empty(num, hidden, d_model))
        self.gate_proj = nn.Parameter(torch.empty(num, hidden, d_model)) if gated else None
        self.down_proj = nn.Parameter(torch.empty(num, d_model, hidden))

    def forward(self, x: torch.Tensor, ends: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """x (M, C): rows sorted by expert; ends/counts (E,): where each expert's rows end and how many."""
        dtype = x.dtype
        if torch.is_autocast_enabled(x.device.type):  # follow autocast as nn.Linear does: grouped_mm is not on its list
            dtype = torch.get_autocast_dtype(x.device.type)
        x = x.to(dtype)
        up = grouped_linear(x, self.up_proj.to(dtype), ends, counts)                        # (M, H)
        gate = grouped_linear(x, self.gate_proj.to(dtype), ends, counts) if self.gate_proj is not None else None
        return grouped_linear(activate(self.activation, gate, up), self.down_proj.to(dtype), ends, counts)  # (M, C)

    def dense(self, x: torch.Tensor) -> torch.Tensor:
        """Expert 0 on every row (the shared experts): plain linear layers, autocast as usual. x (N, C) -> (N, C)."""
        up = F.linear(x, self.up_proj[0])
        gate = F.linear(x, self.gate_proj[0]) if self.gate_proj is not None else None
        return F.linear(activate(self.activation, gate, up), self.down_proj[0])


class MoE(nn.Module):
    """Top-k routed experts plus optional shared experts; forward returns (output, RouterStats)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        moe = cfg.moe
        self.num_experts, self.top_k = moe.num_experts, moe.top_k
        self.aux_loss_coef, self.z_loss_coef = moe.aux_loss_coef, moe.z_loss_coef
        self.router = nn.Linear(cfg.d_model, moe.num_experts, bias=False)
        self.experts = Experts(moe.num_experts, cfg.d_model, cfg.expert_dim, cfg.activation)
        # S shared experts as one MLP S times as wide: the sum of S expert outputs is one wider MLP's output.
        self.shared = (Experts(1, cfg.d_model, moe.shared_experts * cfg.expert_dim, cfg.activation)
                       if moe.shared_experts else None)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, RouterStats]:
        shape, in_dtype = x.shape, x.dtype
        x = x.reshape(-1, shape[-1])                                                   # (N, C)
        N, k = x.shape[0], self.top_k
        logits = self.router(x).float()                                                # (N, E)
        probs, weights, experts = route(logits, k)                                     # (N, E), (N, k), (N, k)
        flat = experts.reshape(-1)                                                     # (N k,) slot -> expert
        order = flat.argsort(stable=True)                                              # slots grouped by expert
        token = order // k                                                             # (N k,) slot -> token
        counts = torch.bincount(flat, minlength=self.num_experts)                      # (E,)
        ends = counts.cumsum(0).to(torch.int32)
        out = self.experts(x[token], ends, counts)                                     # (N k, C)
        out = out.float() * weights.reshape(-1)[order, None]                           # summed in fp32 below
        y = torch.zeros(N, shape[-1], dtype=torch.float32, device=x.device).index_add_(0, token, out)  # (N, C)
        if self.shared is not None:
            y = y + self.shared.dense(x).to(y.dtype)
        aux, load = load_balancing_loss(probs, experts, self.num_experts)
        z = router_z_loss(logits)
        stats = RouterStats(self.aux_loss_coef * aux + self.z_loss_coef * z, aux, z, load)
        return y.reshape(shape).to(in_dtype), stats
