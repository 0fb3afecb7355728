"""Iterated RLHF, the rule as labeller: rounds of PPO against a reward model that keeps learning the policy's samples.

    .venv/bin/python bench/iterated_rlhf.py --init SFT_RUN --rm0 RM_RUN_{seed} --out DIR [--seeds 0 1 2] [--rounds 3]
        [--ppo-steps 100] [--rm-steps 150] [--rm-lr 1e-4] [--jobs 2] [--report-from DIR]

InstructGPT and Llama 2 refresh the reward model on the current policy's replies between PPO rounds, so it ranks the
near misses the policy now makes. Per seed, from policy P0 = the SFT start and reward model RM0 (--rm0, trained on
the SFT start's own samples, bench/rm_policy_pairs.py), round r = 1..R:
  1. P_r   = `minigpt train --stage ppo --init P_{r-1} --set stage.reward=RM_{r-1}` (the committed ppo preset)
  2. pairs: replies of P_r to the training-side RL prompts (never held-out ones), labelled by exact_match
  3. RM_r  = `minigpt train --stage reward --init RM_{r-1}` on every round's pairs so far + the built-in pairs
Each P_r is scored on the held-out tasks (tasks_val): greedy exact-match accuracy and the reward model's mean score
per family (the same RM_{r-1} scores P_{r-1} and P_r, so its change is the reward PPO gained).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ENGINE = [sys.executable, "-m", "engine.cli"]


# ---------------------------------------------------------------- bookkeeping (pure)
def round_plan(rounds: int) -> list[dict]:
    """What each round reads and writes, by name: policy p{r} from p{r-1} with rm{r-1}; then, except after the last
    round (no PPO would use it), pairs-r from p{r} and rm{r} continued from rm{r-1} on pairs-1..r."""
    plan = []
    for r in range(1, rounds + 1):
        step = {"round": r, "policy_in": f"p{r - 1}", "rm_in": f"rm{r - 1}", "policy_out": f"p{r}"}
        if r < rounds:
            step.update(pairs_out=f"pairs-{r}.jsonl", pairs_in=[f"pairs-{k}.jsonl" for k in range(1, r + 1)],
                        rm_out=f"rm{r}")
        plan.append(step)
    return plan


def per_family(items: list[dict], values: list[float]) -> dict[str, float]:
    """Mean of values grouped by each item's task family, plus "all"."""
    groups: dict[str, list[float]] = {}
    for it, v in zip(items, values, strict=True):
        groups.setdefault(it["task"], []).append(v)
    out = {f: statistics.fmean(vs) for f, vs in sorted(groups.items())}
    out["all"] = statistics.fmean(values)
    return out


# ---------------------------------------------------------------- evaluation (its own process)
def evaluate(policy: str, rms: list[str], workspace: Path) -> dict:
    """Held-out greedy accuracy per family and each reward model's mean score of the same replies per family."""
    import torch

    from bench.align_gains import rm_scores
    from engine.data import builtin
    from engine.evaluate import generate_texts, prompt_ids, reference_items
    from engine.inference import load_for_inference
    from engine.train.reward import load_reward_model
    from engine.train.rewards import exact_match

    torch.manual_seed(0)
    lm = load_for_inference(policy, "cpu")
    items = reference_items(builtin.builtin_file(workspace, "tasks_val"), "rl_prompt", None)
    texts = generate_texts(lm.generator, lm.tok, [prompt_ids(lm.tok, it["messages"], True) for it in items], 16, 32,
                           ["\n"])
    out = {"policy": policy, "accuracy": per_family(items, [exact_match(t, it["answer"])
                                                            for t, it in zip(texts, items, strict=True)])}
    for rm in rms:
        out[f"rm:{rm}"] = per_family(items, rm_scores(load_reward_model(rm, "cpu"), lm.tok, items, texts))
    return out


# ---------------------------------------------------------------- runs
class Chain:
    """One seed's rounds; every step is a subprocess and is skipped when its output exists (restartable)."""

    def __init__(self, args, seed: int):
        self.a, self.seed = args, seed
        self.dir = Path(args.out).resolve() / f"s{seed}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def log(self, line: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} s{self.seed} {line} (load {os.getloadavg()[0]:.1f})"
        print(line, flush=True)
        with open(self.dir.parent / "bench.log", "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def call(self, name: str, cmd: list[str]) -> float:
        t0 = time.time()
        with open(self.dir / f"{name}.log", "w", encoding="utf-8") as logf:
            rc = subprocess.run(cmd, env=self.env, stdout=logf, stderr=subprocess.STDOUT, cwd=ROOT).returncode
        if rc:
            raise RuntimeError(f"seed {self.seed}: {name} failed (rc {rc}); see {self.dir / name}.log")
        wall = time.time() - t0
        self.log(f"{name}: {wall:.0f} s")
        return wall

    def path(self, name: str) -> str:
        if name == "p0":
            return str(Path(self.a.init).resolve())
        if name == "rm0":
            return str(Path(self.a.rm0.format(seed=self.seed)).resolve())
        return str(self.dir / name)

    def train(self, name: str, stage: str, init: str, steps: int, sets: list[str]) -> float:
        cmd = ENGINE + ["train", "--stage", stage, "--init", init, "--seed", str(self.seed), "--out",
                        str(self.dir / name), "--max-steps", str(steps), "--set", "hardware.threads=1",
                        "--set", "run.task_eval_items=0", "--set", "run.sample_prompts=[]", "--set", "run.eval_every=0"]
        for kv in sets:
            cmd += ["--set", kv]
        return self.call(name, cmd)

    def eval(self, policy: str, rm: str, name: str) -> dict:
        path = self.dir / f"eval-{name}.json"
        if not path.exists():
            self.call(f"eval-{name}", [sys.executable, __file__, "--eval", self.path(policy), "--rm", self.path(rm),
                                       "--eval-out", str(path)])
        return json.loads(path.read_text())

    def run(self) -> list[dict]:
        from engine.config import default_workspace
        from engine.data import builtin
        from engine.stages import STAGES
        # the reward stage's own built-in pairs (reward_train since built-in v4), as round 0's reward model saw them
        builtin_pairs = str(builtin.builtin_file(default_workspace(), STAGES["reward"].builtin[0]))
        rows = []
        for step in round_plan(self.a.rounds):
            r, row_path = step["round"], self.dir / f"round-{step['round']}.json"
            if row_path.exists():
                rows.append(json.loads(row_path.read_text()))
                continue
            row = {"round": r, "before": self.eval(step["policy_in"], step["rm_in"], f"{step['policy_in']}-{r}")}
            row["ppo_s"] = self.train(step["policy_out"], "ppo", self.path(step["policy_in"]), self.a.ppo_steps,
                                      [f"stage.reward={self.path(step['rm_in'])}"])
            row["after"] = self.eval(step["policy_out"], step["rm_in"], step["policy_out"])
            if "rm_out" in step:
                row["pairs_s"] = self.call(f"pairs-{r}", [
                    sys.executable, str(ROOT / "bench" / "rm_policy_pairs.py"), "--policy",
                    self.path(step["policy_out"]), "--out", str(self.dir / step["pairs_out"]), "--samples", "16",
                    "--temperature", "0.7", "--max-pairs", "8", "--seed", str(1000 * self.seed + r)])
                train_files = [str(self.dir / p) for p in step["pairs_in"]] + [builtin_pairs]
                row["rm_s"] = self.train(step["rm_out"], "reward", self.path(step["rm_in"]), self.a.rm_steps,
                                         [f"data.train=[{','.join(train_files)}]", f"optim.lr={self.a.rm_lr}",
                                          "optim.warmup_steps=5"])
            row_path.write_text(json.dumps(row, indent=1))
            rows.append(row)
        return rows


# ---------------------------------------------------------------- report
def spread(values: list[float]) -> str:
    m = statistics.fmean(values)
    return f"{m:.3f} ± {statistics.stdev(values):.3f}" if len(values) > 1 else f"{m:.3f}"


def report(results: dict[int, list[dict]]) -> str:
    """One table of held-out accuracy per family by round (mean ± sd over seeds, per seed), one of the reward
    model's score change per round, and the wall times."""
    seeds = sorted(results)
    rounds = min(len(results[s]) for s in seeds)
    fams = list(results[seeds[0]][0]["before"]["accuracy"])
    lines = ["| family | SFT start | " + " | ".join(f"round {r + 1}" for r in range(rounds)) + " |",
             "|---|---|" + "---|" * rounds]
    for f in fams:
        cells = [f"{results[seeds[0]][0]['before']['accuracy'][f]:.3f}"]
        for r in range(rounds):
            vals = [results[s][r]["after"]["accuracy"][f] for s in seeds]
            cells.append(spread(vals) + (f" ({' / '.join(f'{v:.3f}' for v in vals)})" if len(vals) > 1 else ""))
        lines.append(f"| {f} | " + " | ".join(cells) + " |")
    lines += ["", "Reward-model score of the held-out greedy replies, before → after each round's PPO (the round's "
              "own reward model scores both; mean over seeds):", "",
              "| family | " + " | ".join(f"round {r + 1}" for r in range(rounds)) + " |", "|---|" + "---|" * rounds]
    for f in fams:
        cells = []
        for r in range(rounds):
            rows = [results[s][r] for s in seeds]
            b = statistics.fmean(next(v for k, v in row["before"].items() if k.startswith("rm:"))[f] for row in rows)
            a = statistics.fmean(next(v for k, v in row["after"].items() if k.startswith("rm:"))[f] for row in rows)
            cells.append(f"{b:+.2f} → {a:+.2f}")
        lines.append(f"| {f} | " + " | ".join(cells) + " |")
    lines += ["", "Wall time per round (s; PPO / pair sampling / reward model), per seed:", ""]
    for s in seeds:
        lines.append(f"- seed {s}: " + "; ".join(
            f"r{row['round']} {row['ppo_s']:.0f} / {row.get('pairs_s', 0):.0f} / {row.get('rm_s', 0):.0f}"
            for row in results[s][:rounds]))
    return "\n".join(lines)


def collect(out: Path) -> dict[int, list[dict]]:
    results = {}
    for d in sorted(out.glob("s*")):
        rows = [json.loads(p.read_text()) for p in sorted(d.glob("round-*.json"))]
        if rows:
            results[int(d.name[1:])] = rows
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--init", help="the SFT checkpoint (run folder): policy P0")
    ap.add_argument("--rm0", help="reward model RM0 (run folder); {seed} is replaced by the seed")
    ap.add_argument("--out", help="folder for the rounds, their logs and results")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ppo-steps", type=int, default=100)
    ap.add_argument("--rm-steps", type=int, default=150)
    ap.add_argument("--rm-lr", type=float, default=1e-4)
    ap.add_argument("--jobs", type=int, default=2, help="seeds at a time")
    ap.add_argument("--report-from", action="store_true", help="print the table of the finished rounds (no runs)")
    ap.add_argument("--eval", help=argparse.SUPPRESS)
    ap.add_argument("--rm", action="append", default=[], help=argparse.SUPPRESS)
    ap.add_argument("--eval-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.eval:
        import torch

        from engine.config import default_workspace
        torch.set_num_threads(1)
        Path(args.eval_out).write_text(json.dumps(evaluate(args.eval, args.rm, default_workspace()), indent=1))
        return
    if not args.out:
        ap.error("--out is required")
    out = Path(args.out)
    if not args.report_from:
        if not (args.init and args.rm0):
            ap.error("--init and --rm0 are required")
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            for f in [pool.submit(Chain(args, s).run) for s in args.seeds]:
                f.result()
    print(report(collect(out)))


if __name__ == "__main__":
    main()
