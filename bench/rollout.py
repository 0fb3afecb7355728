"""GRPO rollout throughput on the tiny preset: completions per second of the stage's own rollout (sampling with the
KV-cache generator, the policy's and the reference's log-probs, rule rewards, group advantages), for several
micro-batch sizes side by side. One JSON object on stdout.

    .venv/bin/python bench/rollout.py [--init CKPT] [--batch-sizes 4,8,16,32] [--rollouts 3] [--threads N]

Without --init, a one-step pretrain run of the tiny preset (random-ish weights: replies rarely stop early, the
slowest case) is made in a temporary workspace first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from engine import checkpoint as ckpt
from engine.commands import CommandQueue
from engine.config import load_config
from engine.events import NullSink
from engine.hardware import init_runtime
from engine.train.loop import Trainer
from engine.train.registry import make_stage
from engine.train.run import run_training
from engine.train.setup import build_parts


def make_init(workspace: Path, scratch: Path) -> Path:
    """A one-step tiny pretrain run in `scratch`, reusing the workspace's built-in data and tokenizer."""
    out = scratch / "init"
    cfg = load_config(overrides=["model.preset=tiny", "stage.name=pretrain", "run.max_steps=1", "run.eval_every=0",
                                 "run.task_eval_items=0", "run.sample_prompts=[]"])
    run_training(cfg, workspace, NullSink(), CommandQueue(), out=str(out))
    return ckpt.resolve_checkpoint(out)


def grpo_trainer(init: Path, workspace: Path, scratch: Path, batch_size: int, group_size: int, threads: int,
                 tokens: int) -> Trainer:
    cfg = load_config(overrides=["stage.name=grpo", f"stage.init={init}", f"run.batch_size={batch_size}",
                                 f"stage.group_size={group_size}", f"stage.rollout_tokens={tokens}",
                                 f"hardware.threads={threads}", "run.task_eval_items=0", "run.sample_prompts=[]"])
    rt = init_runtime(cfg.hardware, cfg.run.seed)
    parts = build_parts(cfg, make_stage("grpo"), workspace, NullSink(), rt, init, origin=init)
    run_dir = scratch / f"bench-{batch_size}"
    run_dir.mkdir(parents=True, exist_ok=True)
    return Trainer(parts, rt, run_dir, NullSink(), CommandQueue())


def measure(trainer: Trainer, rollouts: int) -> dict:
    stage = trainer.stage
    stage.rollout(0)  # warm-up
    seconds, completions, reply_tokens = 0.0, 0, 0.0
    for i in range(1, rollouts + 1):
        t0 = time.perf_counter()
        batches = stage.rollout(i)
        seconds += time.perf_counter() - t0
        completions += sum(b["x"].shape[0] for b in batches)
        reply_tokens += sum(float(b["mask"].sum()) for b in batches)
    return {"completions_per_s": round(completions / seconds, 2),
            "reply_tokens_per_s": round(reply_tokens / seconds, 1),
            "mean_reply_tokens": round(reply_tokens / completions, 2),
            "seconds_per_rollout": round(seconds / rollouts, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--init", help="policy checkpoint (default: a one-step tiny pretrain run)")
    ap.add_argument("--batch-sizes", default="4,8,16,32")
    ap.add_argument("--group-size", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=16, help="stage.rollout_tokens")
    ap.add_argument("--rollouts", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(os.environ.get("MINIGPT_HOME") or tmp)
        init = ckpt.resolve_checkpoint(args.init) if args.init else make_init(workspace, Path(tmp))
        results = {}
        for bs in (int(b) for b in args.batch_sizes.split(",")):
            trainer = grpo_trainer(init, workspace, Path(tmp), bs, args.group_size, args.threads, args.tokens)
            results[str(bs)] = measure(trainer, args.rollouts)
        base = results[min(results, key=int)]["completions_per_s"]
        for r in results.values():
            r["vs_smallest_batch"] = round(r["completions_per_s"] / base, 2)
    print(json.dumps({"bench": "grpo_rollout", "init": str(init), "group_size": args.group_size,
                      "rollout_tokens": args.tokens, "threads": torch.get_num_threads(), "torch": torch.__version__,
                      "machine": platform.machine(), "by_batch_size": results}, indent=1))


if __name__ == "__main__":
    main()
