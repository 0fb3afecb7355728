"""How low-rank is full fine-tuning's update? For each projection a LoRA adapter can sit on, the singular values of
dW = W_after - W_before between a base checkpoint and a fully fine-tuned one, and the share of the update's energy
(squared Frobenius norm) that the best rank-r matrix keeps:

    kept(r) = sum_{i<=r} s_i^2 / sum_i s_i^2        (Eckart-Young: no rank-r update gets closer to dW)

A LoRA of rank r can at best learn the rank-r part of the update full SFT made, so 1 - kept(r) is the part it
cannot represent. Prints one JSON object: per projection kind, kept(r) for each --ranks (averaged over layers), and
the rank that keeps 50% / 90%.

    python bench/lora_update_rank.py BASE_STEP_FOLDER FULL_SFT_STEP_FOLDER [--ranks 1,2,4,8,16,32]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import torch
from safetensors.torch import load_file

PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def kept_energy(delta: torch.Tensor, ranks: list[int]) -> dict:
    s2 = torch.linalg.svdvals(delta.double()).pow(2)                      # (min(out, in),) descending
    cum = s2.cumsum(0) / s2.sum()
    out = {f"r{r}": round(cum[min(r, len(cum)) - 1].item(), 3) for r in ranks}
    out["rank_50"] = int((cum < 0.5).sum().item()) + 1
    out["rank_90"] = int((cum < 0.9).sum().item()) + 1
    out["full_rank"] = len(cum)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base", type=Path, help="the base step folder (its model.safetensors)")
    ap.add_argument("tuned", type=Path, help="the fully fine-tuned step folder")
    ap.add_argument("--ranks", default="1,2,4,8,16,32")
    a = ap.parse_args()
    ranks = [int(r) for r in a.ranks.split(",")]
    before, after = load_file(a.base / "model.safetensors"), load_file(a.tuned / "model.safetensors")
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for name, w in after.items():
        kind = name.split(".")[-2] if name.endswith(".weight") else ""
        if kind in PROJECTIONS:
            by_kind[kind].append(kept_energy(w.float() - before[name].float(), ranks))
    table = {kind: {key: round(sum(row[key] for row in rows) / len(rows), 3) for key in rows[0]}
             for kind, rows in by_kind.items()}
    print(json.dumps({"base": str(a.base), "tuned": str(a.tuned), "per_kind": table}, indent=1))


if __name__ == "__main__":
    main()
