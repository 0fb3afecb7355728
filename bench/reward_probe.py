"""Where a reward model can be trusted, per task family: what PPO against it will find.

    .venv/bin/python bench/reward_probe.py --rm REWARD_RUN --policy SFT_RUN [--samples 8] [--threads 1]

Two tables on the built-in held-out task prompts (tasks_val):
- off-policy: pairwise accuracy of right vs the data's plausible wrong answer, and the mean score of a right answer,
  a wrong one and degenerate replies (empty, the answer twice, the answer then chatter, off-topic text). A reply that
  outscores a right answer is what PPO learns to say.
- on-policy: the policy's own samples (temperature 0.7, fixed seed), scored by the reward model and by exact_match;
  per family, how often a right sample outscores a wrong one of the same prompt (chance 0.5). This is the signal PPO
  actually gets: a family at chance teaches noise.
"""

from __future__ import annotations

import argparse
import collections
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

DEGENERATE = {  # name -> reply built from (right answer, prompt)
    "empty": lambda a, p: "",
    "twice": lambda a, p: f"{a} {a}",
    "chatter": lambda a, p: f"{a} ok the answer is",
    "off_topic": lambda a, p: "The opposite of day is night.",
}


def off_policy(scorer, tok, rng: random.Random, per_family: int) -> list[str]:
    from align_gains import rm_scores

    from engine.data.builtin_tasks import LANGS, TASK_FAMILIES, sample_task, wrong_answer
    lines = ["| family | right > wrong | right | wrong | " + " | ".join(DEGENERATE) + " |",
             "|---" * (4 + len(DEGENERATE)) + "|"]
    for family in TASK_FAMILIES:
        tasks = [sample_task(rng, family, rng.choice(LANGS), held_out=True) for _ in range(per_family)]
        kinds = {"right": [t.answer for t in tasks], "wrong": [wrong_answer(rng, t) for t in tasks]}
        kinds.update({k: [f(t.answer, t.prompt) for t in tasks] for k, f in DEGENERATE.items()})
        items = [{"messages": [{"role": "user", "content": t.prompt}]} for t in tasks]
        scores = {k: rm_scores(scorer, tok, items, v) for k, v in kinds.items()}
        acc = statistics.fmean(float(a > b) for a, b in zip(scores["right"], scores["wrong"], strict=True))
        lines.append(f"| {family} | {acc:.2f} | " + " | ".join(f"{statistics.fmean(v):+.2f}" for v in scores.values())
                     + " |")
    return lines


def on_policy(scorer, lm, samples: int) -> list[str]:
    from align_gains import rm_scores

    from engine.config import default_workspace
    from engine.data import builtin
    from engine.evaluate import prompt_ids, reference_items
    from engine.generate import SamplingParams
    from engine.train.rewards import exact_match
    items = reference_items(builtin.builtin_file(default_workspace(), "tasks_val"), "rl_prompt", None)
    rep = [it for it in items for _ in range(samples)]
    texts = []
    for k in range(0, len(rep), 64):
        chunk = [prompt_ids(lm.tok, it["messages"], True) for it in rep[k:k + 64]]
        params = SamplingParams(max_new_tokens=16, temperature=0.7, seed=5)
        texts += [lm.tok.decode(c.ids) for c in lm.generator.complete(chunk, params)]
    scores = rm_scores(scorer, lm.tok, rep, texts)
    right = [exact_match(t, it["answer"]) > 0 for t, it in zip(texts, rep, strict=True)]
    pairs, mixed = collections.defaultdict(list), collections.Counter()
    for i, it in enumerate(items):
        s, r = scores[i * samples:(i + 1) * samples], right[i * samples:(i + 1) * samples]
        good = [a for a, ok in zip(s, r, strict=True) if ok]
        bad = [a for a, ok in zip(s, r, strict=True) if not ok]
        if good and bad:
            mixed[it["task"]] += 1
            pairs[it["task"]] += [float(g > b) for g in good for b in bad]
    lines = ["| family | prompts with right and wrong samples | right sample > wrong sample |", "|---|---|---|"]
    for family in sorted(pairs):
        lines.append(f"| {family} | {mixed[family]} | {statistics.fmean(pairs[family]):.2f} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rm", required=True, help="the reward-model run (or checkpoint) folder")
    ap.add_argument("--policy", required=True, help="the policy whose samples PPO would score (the SFT start)")
    ap.add_argument("--samples", type=int, default=8, help="samples per held-out prompt")
    ap.add_argument("--per-family", type=int, default=60, help="off-policy items per family")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import torch

    from engine.inference import load_for_inference
    from engine.train.reward import load_reward_model
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    scorer, lm = load_reward_model(args.rm, "cpu"), load_for_inference(args.policy, "cpu")
    print("\n".join(["off-policy (data's wrong answers, degenerate replies)", "",
                     *off_policy(scorer, lm.tok, random.Random(7), args.per_family), "",
                     f"on-policy ({args.samples} samples per prompt at temperature 0.7)", "",
                     *on_policy(scorer, lm, args.samples)]))


if __name__ == "__main__":
    main()
