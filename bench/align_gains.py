"""The alignment stages' measured gain: DPO, reward model, PPO (reward model and rule reward) and GRPO, each run from
one SFT checkpoint for N seeds, and the same held-out evaluation of the SFT start and of every finished run.

    .venv/bin/python bench/align_gains.py --init SFT_RUN --out DIR [--seeds 0 1 2] [--jobs 2] [--threads 1]
        [--stages dpo reward ppo-rm ppo-rule grpo] [--set grpo:optim.lr=3e-5 ...] [--report bench/results/x.md]

Each stage runs as `minigpt train --stage S --init SFT_RUN --seed K` with its committed preset (presets/stages/),
`--jobs` at a time; ppo-rm uses the reward model of its own seed. The evaluation (one function, before and after):
greedy exact-match accuracy per task family on the built-in held-out tasks (tasks_val, 406 items), the rule reward of
those replies (exact_match: the accuracy) and their reward-model score, and the policy's preference accuracy on the
held-out pairs (log pi(chosen) > log pi(rejected), summed over reply tokens) plus DPO's implicit-reward accuracy
against the SFT start. The reward model is scored by its held-out pairwise accuracy (`minigpt eval --metrics reward`).
Prints a markdown table (mean ± spread over seeds, wall time per run, load average) and writes it to --report.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

RUNS = {  # bench name -> (engine stage, extra --set values)
    "dpo": ("dpo", []),
    "reward": ("reward", []),
    "ppo-rm": ("ppo", []),       # stage.reward = the same seed's reward model, filled in at run time
    "ppo-rule": ("ppo", ["stage.reward=exact_match"]),
    "grpo": ("grpo", ["stage.reward=exact_match"]),
}
ENGINE = [sys.executable, "-m", "engine.cli"]
SAMPLES = 4  # sampled replies per held-out prompt for the policy's sampled reward


# ---------------------------------------------------------------- the one evaluation (runs in its own process)
def evaluate(checkpoint: str, reference: str | None, reward_models: list[str], workspace: Path,
             temperature: float) -> dict:
    """Held-out metrics of one policy checkpoint; identical code for the SFT start and every trained run."""
    import torch

    from engine.data import builtin, formats
    from engine.data.pretokenize import encode_pair
    from engine.evaluate import accuracy_of, generate_texts, prompt_ids, reference_items
    from engine.generate import SamplingParams
    from engine.inference import load_for_inference
    from engine.train.reward import load_reward_model
    from engine.train.rewards import exact_match

    torch.manual_seed(0)
    lm = load_for_inference(checkpoint, "cpu")
    items = reference_items(builtin.builtin_file(workspace, "tasks_val"), "rl_prompt", None)
    prompts = [prompt_ids(lm.tok, it["messages"], True) for it in items]
    texts = generate_texts(lm.generator, lm.tok, prompts, 16, 32, ["\n"])
    out = {"checkpoint": checkpoint, **accuracy_of(items, texts)}
    out["reward_rule"] = out["accuracy"]                          # exact_match of the same (greedy) replies
    # the policy's own samples, as its rollouts draw them: SAMPLES per prompt at the rollout temperature, fixed seed
    params = SamplingParams(max_new_tokens=16, temperature=temperature, seed=1234)
    sampled_items = [it for it in items for _ in range(SAMPLES)]
    sampled = []
    for k in range(0, len(sampled_items), 64):
        chunk = [prompt_ids(lm.tok, it["messages"], True) for it in sampled_items[k:k + 64]]
        sampled += [lm.tok.decode(c.ids) for c in lm.generator.complete(chunk, params)]
    out["reward_rule_sampled"] = statistics.fmean(exact_match(t, it["answer"])
                                                  for t, it in zip(sampled, sampled_items, strict=True))
    for i, rm_path in enumerate(reward_models):                   # reward-model score of the same replies
        scorer = load_reward_model(rm_path, "cpu")
        out[f"reward_rm{i}"] = statistics.fmean(rm_scores(scorer, lm.tok, items, texts))
        out[f"reward_rm{i}_sampled"] = statistics.fmean(rm_scores(scorer, lm.tok, sampled_items, sampled))
    ref = load_for_inference(reference, "cpu").model if reference else None
    pairs = [encode_pair(lm.tok, r) for r in formats.iter_records(builtin.builtin_file(workspace, "preference_val"),
                                                                   "preference")]
    sides = [side for pair in pairs for side in pair]                # chosen, rejected, chosen, ...
    lp = reply_logprobs(lm.model, sides, lm.tok.pad_id)
    out["pref_accuracy"] = float((lp[0::2] > lp[1::2]).float().mean())
    if ref is not None:
        h = lp - reply_logprobs(ref, sides, lm.tok.pad_id)            # log pi/ref of each side
        out["implicit_pref_accuracy"] = float((h[0::2] > h[1::2]).float().mean())
    return out


def rm_scores(scorer, tok, items: list[dict], texts: list[str]) -> list[float]:
    """A reward model's score of each (prompt, reply), rendered as the reward model was trained (ends at <|im_end|>)."""
    import torch
    scores = []
    for k in range(0, len(items), 32):
        rows = [tok.encode_chat(it["messages"] + [{"role": "assistant", "content": t}])[0]
                for it, t in zip(items[k:k + 32], texts[k:k + 32], strict=True)]
        rows = [r[:len(r) - r[::-1].index(tok.im_end_id)] for r in rows]   # end at the reply's <|im_end|>
        lengths = torch.tensor([len(r) for r in rows])
        ids = torch.full((len(rows), int(lengths.max())), tok.pad_id, dtype=torch.long)
        for j, r in enumerate(rows):
            ids[j, :len(r)] = torch.tensor(r)
        scores += scorer(ids, lengths).tolist()
    return scores


def reply_logprobs(model, sides: list[tuple[list[int], list[int]]], pad_id: int, batch: int = 64):
    """log pi(reply | prompt) of each (ids, reply mask) side, summed over the reply tokens, as DPO scores a side."""
    import torch
    out = []
    for k in range(0, len(sides), batch):
        chunk = sides[k:k + batch]
        T = max(len(ids) for ids, _ in chunk) - 1
        x = torch.full((len(chunk), T), pad_id, dtype=torch.long)
        y = torch.full((len(chunk), T), -100, dtype=torch.long)
        for j, (ids, mask) in enumerate(chunk):                   # right-padded: causal attention never sees pads
            x[j, :len(ids) - 1] = torch.tensor(ids[:-1])
            y[j, :len(ids) - 1] = torch.tensor([t if m else -100 for t, m in zip(ids[1:], mask[1:], strict=True)])
        with torch.no_grad():
            _, nll = model(x, y, reduction="none")
        out.append(-nll.sum(-1))
    return torch.cat(out)


# ---------------------------------------------------------------- runs
class Bench:
    def __init__(self, args):
        self.args, self.out = args, Path(args.out).resolve()
        self.out.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        self.lock = threading.Lock()
        self.overrides: dict[str, list[str]] = {}
        for item in args.set or []:
            name, _, kv = item.partition(":")
            self.overrides.setdefault(name, []).append(kv)

    def log(self, line: str) -> None:
        with self.lock:
            print(time.strftime("%H:%M:%S"), line, flush=True)
            with open(self.out / "bench.log", "a", encoding="utf-8") as f:
                f.write(f"{time.strftime('%H:%M:%S')} {line}\n")

    def run_eval(self, name: str, checkpoint: str, reference: str | None, rms: list[str]) -> dict:
        path = self.out / f"eval-{name}.json"
        if path.exists():
            return json.loads(path.read_text())
        t0 = time.time()
        cmd = [sys.executable, __file__, "--eval", checkpoint, "--out", str(self.out), "--eval-name", name,
               "--threads", str(self.args.threads), "--temperature", str(self.args.temperature)]
        cmd += ["--reference", reference] if reference else []
        cmd += [x for rm in rms for x in ("--rm", rm)]
        subprocess.run(cmd, env=self.env, check=True, stdout=subprocess.DEVNULL)
        self.log(f"eval {name}: {time.time() - t0:.0f} s")
        return json.loads(path.read_text())

    def train(self, name: str, seed: int, extra: list[str]) -> dict:
        """One stage run (skipped when its run folder finished earlier): wall time and load average around it."""
        stage, sets = RUNS[name]
        run = self.out / f"{name}-s{seed}"
        meta_path = self.out / f"train-{name}-s{seed}.json"
        if meta_path.exists():
            return json.loads(meta_path.read_text())
        cmd = ENGINE + ["train", "--stage", stage, "--init", str(self.args.init), "--seed", str(seed),
                        "--out", str(run), "--set", f"hardware.threads={self.args.threads}",
                        "--set", "run.task_eval_items=0", "--set", "run.sample_prompts=[]"]
        for kv in sets + extra + self.overrides.get(name, []):
            cmd += ["--set", kv]
        load0, t0 = os.getloadavg()[0], time.time()
        self.log(f"start {name} seed {seed}")
        with open(self.out / f"{name}-s{seed}.log", "w", encoding="utf-8") as logf:
            rc = subprocess.run(cmd, env=self.env, stdout=logf, stderr=subprocess.STDOUT).returncode
        wall = time.time() - t0
        if rc:
            raise RuntimeError(f"{name} seed {seed} failed (rc {rc}); see {run}.log")
        meta = {"wall_s": wall, "load_start": load0, "load_end": os.getloadavg()[0], "cmd": cmd}
        meta_path.write_text(json.dumps(meta, indent=1))
        self.log(f"done {name} seed {seed}: {wall:.0f} s")
        return meta

    def job(self, name: str, seed: int, rm_future: Future | None) -> dict:
        extra, rms = [], []
        if name == "ppo-rm":
            rm_future.result()                                    # the same seed's reward model is trained
            rm = str(self.out / f"reward-s{seed}")
            extra, rms = [f"stage.reward={rm}"], [rm]
        meta = self.train(name, seed, extra)
        run = str(self.out / f"{name}-s{seed}")
        if name == "reward":
            meta["eval"] = reward_eval(run, self.env)
        else:
            meta["eval"] = self.run_eval(f"{name}-s{seed}", run, str(self.args.init), rms)
        return meta

    def run_all(self) -> dict:
        a = self.args
        results: dict = {"before": {}, "runs": {}}
        with ThreadPoolExecutor(max_workers=a.jobs) as pool:
            rm_jobs = {s: pool.submit(self.job, "reward", s, None) for s in a.seeds if "reward" in a.stages
                       or "ppo-rm" in a.stages}
            jobs = {(n, s): pool.submit(self.job, n, s, rm_jobs.get(s)) for s in a.seeds for n in a.stages
                    if n != "reward"}
            jobs.update({("reward", s): f for s, f in rm_jobs.items()})
            for (n, s), f in jobs.items():
                results["runs"].setdefault(n, {})[s] = f.result()
        rms = [str(self.out / f"reward-s{s}") for s in a.seeds if "ppo-rm" in a.stages]
        results["before"] = self.run_eval("sft", str(a.init), str(a.init), rms)
        (self.out / "results.json").write_text(json.dumps(results, indent=1))
        return results


def reward_eval(run: str, env: dict) -> dict:
    """The reward model's held-out pairwise accuracy and margin, as `minigpt eval --metrics reward` reports them."""
    path = Path(f"{run}-eval.json")
    if not path.exists():
        subprocess.run(ENGINE + ["eval", run, "--metrics", "reward", "--limit", "0", "--out", str(path)], env=env,
                       check=True, stdout=subprocess.DEVNULL)
    return json.loads(path.read_text())["metrics"]


# ---------------------------------------------------------------- report
def spread(values: list[float]) -> str:
    mean = statistics.fmean(values)
    return f"{mean:.3f} ± {statistics.stdev(values):.3f}" if len(values) > 1 else f"{mean:.3f}"


def report(results: dict, seeds: list[int]) -> str:
    before, lines = results["before"], []
    families = sorted(k for k in before if k.startswith("acc_"))
    for name, runs in results["runs"].items():
        evals = [runs[s]["eval"] for s in seeds if s in runs]
        walls = ", ".join(f"{runs[s]['wall_s']:.0f}" for s in seeds if s in runs)
        loads = ", ".join(f"{runs[s]['load_start']:.1f}-{runs[s]['load_end']:.1f}" for s in seeds if s in runs)
        lines += [f"### {name}", "", f"wall time per run (s): {walls}; load average at start-end: {loads}", ""]
        if name == "reward":
            lines += ["| metric | chance | after (mean ± sd) | per seed |", "|---|---|---|---|"]
            for key in ("pairwise_accuracy", "mean_margin"):
                vals = [e[key] for e in evals]
                lines.append(f"| {key} | {0.5 if key == 'pairwise_accuracy' else 0.0} | {spread(vals)} | "
                             + " / ".join(f"{v:.3f}" for v in vals) + " |")
            lines.append("")
            continue
        keys = ["accuracy", *families, "reward_rule", "reward_rule_sampled"]
        keys += sorted(k for k in evals[0] if k.startswith("reward_rm"))
        keys += ["pref_accuracy"] + (["implicit_pref_accuracy"] if name == "dpo" else [])
        lines += ["| metric | SFT before | after (mean ± sd) | change | per seed |", "|---|---|---|---|---|"]
        for key in keys:
            vals = [e[key] for e in evals if key in e]
            if not vals:
                continue
            if key.startswith("reward_rm"):  # each seed's policy and the SFT start, scored by that seed's own RM
                tail = key[len("reward_rm0"):]
                starts = [before[f"reward_rm{j}{tail}"] for j in range(len(vals))]
                deltas = [a - b for a, b in zip(vals, starts, strict=True)]
                change = f"{statistics.fmean(deltas):+.3f}" + (f" ± {statistics.stdev(deltas):.3f}" if len(deltas) > 1
                                                               else "")
                lines.append(f"| {key.replace('rm0', 'rm')} (own seed's RM) | " + " / ".join(f"{b:.3f}" for b in starts)
                             + f" | {spread(vals)} | {change} | " + " / ".join(f"{v:+.3f}" for v in deltas)
                             + " (change) |")
                continue
            b = before.get(key)
            change = f"{statistics.fmean(vals) - b:+.3f}" if b is not None else ""
            lines.append(f"| {key} | {'' if b is None else f'{b:.3f}'} | {spread(vals)} | {change} | "
                         + " / ".join(f"{v:.3f}" for v in vals) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--init", help="the SFT checkpoint (run folder) every stage starts from")
    ap.add_argument("--out", required=True, help="folder for the runs, their logs and results.json")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--stages", nargs="+", default=list(RUNS), choices=list(RUNS))
    ap.add_argument("--jobs", type=int, default=2, help="runs at a time")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run")
    ap.add_argument("--set", action="append", help="RUN:key=value, e.g. grpo:optim.lr=3e-5 (repeatable)")
    ap.add_argument("--report", help="also write the markdown table here")
    ap.add_argument("--temperature", type=float, default=1.0, help="sampling temperature of the sampled reward")
    ap.add_argument("--report-from", help="print the table of a finished bench's results.json (no runs)")
    ap.add_argument("--eval", help=argparse.SUPPRESS)           # internal: evaluate one checkpoint
    ap.add_argument("--eval-name", help=argparse.SUPPRESS)
    ap.add_argument("--reference", help=argparse.SUPPRESS)
    ap.add_argument("--rm", action="append", default=[], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.eval:
        import torch

        from engine.config import default_workspace  # the engine's own (MINIGPT_HOME or the user data folder)
        torch.set_num_threads(args.threads)
        result = evaluate(args.eval, args.reference, args.rm, default_workspace(), args.temperature)
        (Path(args.out) / f"eval-{args.eval_name}.json").write_text(json.dumps(result, indent=1))
        return
    if args.report_from:  # the table again from a finished bench's results.json
        results = json.loads(Path(args.report_from).read_text())
        results["runs"] = {n: {int(k): v for k, v in r.items()} for n, r in results["runs"].items()}
        text = report(results, args.seeds)
        print(text)
        if args.report:
            Path(args.report).write_text(text + "\n", encoding="utf-8")
        return
    if not args.init:
        ap.error("--init is required")
    t0 = time.time()
    results = Bench(args).run_all()
    text = (f"SFT start: {args.init}; seeds {args.seeds}; {args.jobs} runs at a time, {args.threads} thread(s) each; "
            f"total {time.time() - t0:.0f} s\n\n" + report(results, args.seeds))
    print(text)
    if args.report:
        Path(args.report).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
