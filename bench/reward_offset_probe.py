"""Where a reward model's score varies: between prompts, or between the replies to one prompt.

    .venv/bin/python bench/reward_offset_probe.py --policy SFT_RUN --rm REWARD_RUN [--rm ...] [--split tasks_val]
        [--samples 8] [--per-family 58] [--temperature 0.7] [--threads 1]

K samples of the policy per prompt (held-out tasks_val, or rl_prompt_train: the prompts PPO trains on), labelled by
exact_match, scored by each reward model. Per task family: how often a right sample outscores a wrong one of the same
prompt (within), over all the family's samples pooled (what a rollout of one reply per prompt shows PPO), and the
variance of the prompts' mean score (between) against the mean variance among one prompt's samples (within).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

FAMILIES = ("copy", "reverse", "unit", "count_items", "count_letter")


def ranking(right: list[float], wrong: list[float]) -> float:
    """P(score of a right reply > score of a wrong one), ties half: the area under the ROC curve."""
    if not right or not wrong:
        return float("nan")
    return sum((r > w) + 0.5 * (r == w) for r in right for w in wrong) / (len(right) * len(wrong))


def family_row(scores: list[list[float]], right: list[list[bool]]) -> dict:
    """scores/right: per prompt, its K samples' reward-model scores and exact_match labels."""
    within = [ranking([s for s, ok in zip(ss, rr, strict=True) if ok], [s for s, ok in zip(ss, rr, strict=True)
                                                                         if not ok])
              for ss, rr in zip(scores, right, strict=True) if any(rr) and not all(rr)]
    pairs = [(s, ok) for ss, rr in zip(scores, right, strict=True) for s, ok in zip(ss, rr, strict=True)]
    weights = [sum(rr) * (len(rr) - sum(rr)) for rr in right if any(rr) and not all(rr)]
    mean_within = (sum(w * a for w, a in zip(weights, within, strict=True)) / sum(weights) if weights
                   else float("nan"))                     # over all (right, wrong) pairs of one prompt's samples
    return {"right": sum(ok for _, ok in pairs), "samples": len(pairs), "within": mean_within,
            "pooled": ranking([s for s, ok in pairs if ok], [s for s, ok in pairs if not ok]),
            "var_between": statistics.pvariance([statistics.fmean(ss) for ss in scores]),
            "var_within": statistics.fmean(statistics.pvariance(ss) for ss in scores)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--policy", required=True, help="the policy checkpoint (run folder) whose replies are scored")
    ap.add_argument("--rm", action="append", required=True, help="a reward-model checkpoint (repeatable)")
    ap.add_argument("--split", default="tasks_val", choices=["tasks_val", "rl_prompt_train"])
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--per-family", type=int, default=58)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import torch
    from align_gains import rm_scores
    from rm_policy_pairs import sample_replies

    from engine.config import default_workspace
    from engine.data import builtin
    from engine.evaluate import reference_items
    from engine.inference import load_for_inference
    from engine.train.reward import load_reward_model
    from engine.train.rewards import exact_match
    torch.set_num_threads(args.threads)
    lm = load_for_inference(args.policy, "cpu")
    rng, k = random.Random(0), args.samples
    by_family: dict[str, list[dict]] = {}
    for it in reference_items(builtin.builtin_file(default_workspace(), args.split), "rl_prompt", None):
        by_family.setdefault(it.get("task"), []).append(it)
    items = [it for f in FAMILIES for it in rng.sample(by_family[f], min(args.per_family, len(by_family[f])))]
    texts = sample_replies(lm, items, k, args.temperature, 7)
    repeated = [it for it in items for _ in range(k)]
    right = [exact_match(t, it["answer"]) > 0 for t, it in zip(texts, repeated, strict=True)]
    for rm in args.rm:
        scores = rm_scores(load_reward_model(rm, "cpu"), lm.tok, repeated, texts)
        print(f"\n{rm} ({args.split}, {k} samples per prompt at {args.temperature})\n"
              "| family | right samples | within-prompt ranking | pooled ranking | variance between prompts | "
              "within a prompt |\n|---|---|---|---|---|---|")
        for f in FAMILIES:
            idx = [p for p, it in enumerate(items) if it["task"] == f]
            row = family_row([scores[p * k:(p + 1) * k] for p in idx], [right[p * k:(p + 1) * k] for p in idx])
            print(f"| {f} | {row['right']}/{row['samples']} | {row['within']:.2f} | {row['pooled']:.2f} | "
                  f"{row['var_between']:.1f} | {row['var_within']:.1f} |")


if __name__ == "__main__":
    main()
