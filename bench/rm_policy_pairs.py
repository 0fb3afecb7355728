"""Preference pairs from the policy's own replies, labelled by the rule reward: the reward model's training data.

    .venv/bin/python bench/rm_policy_pairs.py --policy SFT_RUN --out pairs.jsonl [--tasks copy reverse unit]
        [--samples 8] [--temperature 0.7] [--max-pairs 4] [--threads 1]

InstructGPT trains its reward model on the SFT policy's samples ranked by labellers. The built-in tasks are
checkable, so exact_match is the labeller: K replies per training-side RL prompt (rl_prompt_train, the prompts PPO
trains on, filtered to stage.tasks' families; never the held-out ones), and for every prompt with both a right and a
wrong reply, pairs {"prompt", "chosen": a right reply, "rejected": a wrong reply}. A reward model trained on these
ranks the near misses PPO actually samples, which the data generator's wrong answers do not cover.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def label_pairs(prompt: str, replies: list[str], answer: str, max_pairs: int) -> list[dict]:
    """Preference pairs for one prompt: each distinct right reply against each distinct wrong one, at most max_pairs,
    taken round-robin so that a few pairs still cover every distinct wrong reply. Right = exact_match > 0."""
    from engine.train.rewards import exact_match
    right, wrong = [], []
    for text in dict.fromkeys(r.strip() for r in replies):          # distinct, in sampling order
        (right if exact_match(text, answer) > 0 else wrong).append(text)
    pairs = [(right[i % len(right)], w) for i, w in enumerate(wrong)] if right else []
    pairs += [(c, w) for c in right for w in wrong if (c, w) not in pairs]
    return [{"prompt": prompt, "chosen": c, "rejected": w} for c, w in pairs[:max_pairs]]


def sample_replies(lm, items: list[dict], samples: int, temperature: float, seed: int, batch: int = 64) -> list[str]:
    """`samples` replies per item at `temperature`, batched through the engine's Generator, as PPO's rollouts draw."""
    from engine.evaluate import prompt_ids
    from engine.generate import SamplingParams
    rep = [it for it in items for _ in range(samples)]
    texts = []
    for k in range(0, len(rep), batch):
        chunk = [prompt_ids(lm.tok, it["messages"], True) for it in rep[k:k + batch]]
        params = SamplingParams(max_new_tokens=16, temperature=temperature, seed=seed + k)
        texts += [lm.tok.decode(c.ids) for c in lm.generator.complete(chunk, params)]
    return texts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--policy", required=True, help="the SFT checkpoint (run folder) whose replies are labelled")
    ap.add_argument("--out", required=True, help="JSONL file of preference pairs to write (must not exist)")
    ap.add_argument("--tasks", nargs="+", default=["copy", "reverse", "unit"], help="task families (PPO's stage.tasks)")
    ap.add_argument("--samples", type=int, default=8, help="replies per prompt")
    ap.add_argument("--temperature", type=float, default=0.7, help="sampling temperature (PPO's rollout_temperature)")
    ap.add_argument("--max-pairs", type=int, default=4, help="pairs per prompt at most")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    out = Path(args.out)
    if out.exists():
        sys.exit(f"{out} exists; pass a new file (nothing is overwritten)")
    import torch

    from engine.config import default_workspace
    from engine.data import builtin
    from engine.evaluate import reference_items
    from engine.inference import load_for_inference
    torch.set_num_threads(args.threads)
    t0 = time.time()
    lm = load_for_inference(args.policy, "cpu")
    items = [it for it in reference_items(builtin.builtin_file(default_workspace(), "rl_prompt_train"), "rl_prompt",
                                          None) if it.get("task") in args.tasks]
    texts = sample_replies(lm, items, args.samples, args.temperature, args.seed)
    stats: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    lines = []
    for i, it in enumerate(items):
        pairs = label_pairs(it["messages"][-1]["content"], texts[i * args.samples:(i + 1) * args.samples],
                            it["answer"], args.max_pairs)
        s = stats[it["task"]]
        s["prompts"] += 1
        s["mixed"] += bool(pairs)
        s["pairs"] += len(pairs)
        lines += [json.dumps(p, ensure_ascii=False) for p in pairs]
    out.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    print(f"{len(lines)} pairs from {len(items)} prompts x {args.samples} samples in {time.time() - t0:.0f} s -> {out}")
    print("| family | prompts | with right and wrong replies | pairs |\n|---|---|---|---|")
    for family, s in sorted(stats.items()):
        print(f"| {family} | {s['prompts']} | {s['mixed']} | {s['pairs']} |")


if __name__ == "__main__":
    main()
