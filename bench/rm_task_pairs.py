"""More task preference pairs for the reward model, from the built-in task generator's training side only.

    .venv/bin/python bench/rm_task_pairs.py --out pairs.jsonl [--tasks copy reverse] [--items 2000] [--wrong 2]

The built-in preference data holds about 200 pairs per task family among 3000, and a reward model trained on it
ranks the policy's own copy and reverse samples near chance on held-out prompts (bench/results/align_gains.md). This
writes, per fresh training-side instance (never a held-out key: builtin_tasks.is_held_out), `--wrong` pairs of the
right answer over one of the generator's plausible wrong answers (a letter dropped, doubled, changed, swapped).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from engine.data.builtin_tasks import LANGS, sample_task, wrong_answer
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="JSONL file of preference pairs to write (must not exist)")
    ap.add_argument("--tasks", nargs="+", default=["copy", "reverse"])
    ap.add_argument("--items", type=int, default=2000, help="fresh instances per family")
    ap.add_argument("--wrong", type=int, default=2, help="distinct wrong answers (pairs) per instance, at most")
    ap.add_argument("--seed", type=int, default=12345)
    args = ap.parse_args()
    out = Path(args.out)
    if out.exists():
        sys.exit(f"{out} exists; pass a new file (nothing is overwritten)")
    rng, lines = random.Random(args.seed), []
    for family in args.tasks:
        for _ in range(args.items):
            item = sample_task(rng, family, rng.choice(LANGS), held_out=False)
            wrongs = dict.fromkeys(wrong_answer(rng, item) for _ in range(4 * args.wrong))
            lines += [json.dumps({"prompt": item.prompt, "chosen": item.answer, "rejected": w}, ensure_ascii=False)
                      for w in list(wrongs)[:args.wrong]]
    rng.shuffle(lines)
    out.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    print(f"{len(lines)} pairs ({', '.join(args.tasks)}) -> {out}")


if __name__ == "__main__":
    main()
