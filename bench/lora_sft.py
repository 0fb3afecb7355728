"""LoRA vs full SFT on the built-in data: one short pretrain of a preset (or --base, an existing one), then SFT from
it for the same steps with all weights, with LoRA at the engine's defaults (adapters + special-token rows, adapters
at lora.lr_ratio x optim.lr) and with LoRA adapters alone as LoRA first was (alpha 16, no embedding rows, ratio 1).
Prints a JSON table: val loss, task accuracy, trainable share, tokens/s (and its ratio to full SFT's), peak memory
and wall time of each.

    nice -n 10 python bench/lora_sft.py [--preset tiny] [--pretrain-steps 150] [--base RUN] [--sft-steps 100]
                                        [--rank 8] [--targets q_proj,v_proj,...] [--lora-lr 2e-3] [--lr-ratio 3]
                                        [--task-items 100]
                                        [--only full,lora,adapters-only] [--threads 1] [--out DIR] [--set KEY=VALUE]

Runs the real `minigpt train` CLI in subprocesses (set MINIGPT_HOME to keep its workspace apart).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

QUIET = ["--set", "run.sample_prompts=[]", "--set", "run.eval_batches=8"]
BEFORE = ["lora.alpha=16", "lora.train_special_tokens=false", "lora.train_frequent_tokens=0", "lora.lr_ratio=1"]


def train(args: list[str], threads: int) -> None:
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "train", *args, *QUIET,
                           "--set", f"hardware.threads={threads}"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"minigpt train {' '.join(args)} failed:\n{proc.stderr[-3000:]}")


def summary(run: Path) -> dict:
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    evals = [e for e in events if e["event"] == "eval"]
    config = next(e for e in events if e["event"] == "config")
    trainable = config["params"]
    task = evals[-1].get("metrics") or {}
    for e in events:
        m = re.search(r"([\d,]+) of ([\d,]+) parameters train", e.get("message", "")) if e["event"] == "log" else None
        if m:
            trainable = int(m.group(1).replace(",", ""))
    steps = [e for e in events if e["event"] == "step"]
    wall = events[-1]["t"] - events[0]["t"]  # hello to done: set-up, steps, evals and saves
    return {"val_loss": round(evals[-1]["val_loss"], 4), "val_loss_at_0": round(evals[0]["val_loss"], 4),
            "task_accuracy": task.get("accuracy"), "params": config["params"], "trainable": trainable,
            "trainable_share": round(trainable / config["params"], 4),
            "tokens_per_s": round(sum(s["tokens_per_s"] for s in steps) / len(steps), 1),
            "peak_mem_mb": round(max(s.get("mem_peak") or 0 for s in steps) / 2**20, 1),
            "mem_kind": steps[-1].get("mem_kind"), "wall_s": round(wall, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--pretrain-steps", type=int, default=150)
    ap.add_argument("--sft-steps", type=int, default=100)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--alpha", type=float, help="lora.alpha of the `lora` run (default: the engine's)")
    ap.add_argument("--targets", default="", help="comma list (default: the lora.targets default)")
    ap.add_argument("--lora-lr", type=float, help="LoRA's optim.lr (default: the sft preset's, as full SFT); the "
                    "adapters train at it times lora.lr_ratio")
    ap.add_argument("--lr-ratio", type=float, help="lora.lr_ratio of the `lora` run (default: the engine's)")
    ap.add_argument("--base", help="an existing pretrain run or step folder to start from (no pretrain then)")
    ap.add_argument("--task-items", type=int, default=100, help="built-in task items scored at each eval (0 = none)")
    ap.add_argument("--only", default="full,lora,adapters-only", help="which runs, comma-separated")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="a --set for all three runs (e.g. run.batch_size=8 on a busy machine)")
    ap.add_argument("--out", help="folder for the three runs (default: a temporary one)")
    a = ap.parse_args()
    root = Path(a.out or tempfile.mkdtemp(prefix="lora-bench-"))
    every = ["--eval-every", str(max(1, a.sft_steps // 2)), "--set", f"run.task_eval_items={a.task_items}"]
    same = [x for kv in a.sets for x in ("--set", kv)]
    pre = Path(a.base) if a.base else root / "pretrain"
    if not a.base and not (pre / "checkpoints" / "latest").is_file():
        train(["--stage", "pretrain", "--preset", a.preset, "--max-steps", str(a.pretrain_steps), "--out", str(pre),
               "--eval-every", str(a.pretrain_steps), "--set", "run.task_eval_items=0", *same], a.threads)
    lora = ["--set", f"lora.rank={a.rank}"] + (["--set", f"lora.alpha={a.alpha}"] if a.alpha else [])
    if a.targets:
        lora += ["--set", f"lora.targets=[{a.targets}]"]
    if a.lora_lr:
        lora += ["--set", f"optim.lr={a.lora_lr}"]
    if a.lr_ratio:
        lora += ["--set", f"lora.lr_ratio={a.lr_ratio}"]
    # adapters-only: LoRA as it was before the embedding rows and the larger alpha (alpha 16, no rows)
    runs = {"full": [], "lora": lora, "adapters-only": [*lora, *[x for kv in BEFORE for x in ("--set", kv)]]}
    rows = {}
    tag = f"-r{a.rank}" + (f"-a{a.alpha:g}" if a.alpha else "") + (f"-lr{a.lora_lr:g}" if a.lora_lr else "") \
        + (f"-x{a.lr_ratio:g}" if a.lr_ratio else "")
    for name in a.only.split(","):
        out = root / f"sft-{name}" if name == "full" else root / (f"sft-lora{tag}" if name == "lora"
                                                                   else f"sft-{name}-r{a.rank}")
        if not (out / "checkpoints" / "latest").is_file():  # a finished run of an earlier call is reused
            train(["--stage", "sft", "--init", str(pre), "--max-steps", str(a.sft_steps), "--out", str(out),
                   *every, *same, *runs[name]], a.threads)
        rows[name] = summary(out)
    if "full" in rows:
        for name in rows.keys() - {"full"}:
            rows[name]["vs_full"] = {
                "val_loss_ratio": round(rows[name]["val_loss"] / rows["full"]["val_loss"], 3),
                "tokens_per_s_ratio": round(rows[name]["tokens_per_s"] / rows["full"]["tokens_per_s"], 3),
                "peak_mem_ratio": round(rows[name]["peak_mem_mb"] / rows["full"]["peak_mem_mb"], 3),
                "wall_ratio": round(rows[name]["wall_s"] / rows["full"]["wall_s"], 3)}
    print(json.dumps({"preset": a.preset, "pretrain_steps": a.pretrain_steps, "sft_steps": a.sft_steps,
                      "rank": a.rank, "alpha": a.alpha, "targets": a.targets or "default", "runs": rows}, indent=1))


if __name__ == "__main__":
    main()
