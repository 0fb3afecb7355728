"""LoRA vs full SFT on the built-in data: one short pretrain of a preset, then SFT from it twice (all weights, and
LoRA adapters only) for the same steps. Prints a JSON table: val loss, trainable params, wall time of each.

    nice -n 10 python bench/lora_sft.py [--preset tiny] [--pretrain-steps 150] [--sft-steps 100] [--rank 8]
                                        [--targets q_proj,v_proj,...] [--lora-lr 2e-3] [--threads 1] [--out DIR]
                                        [--set KEY=VALUE ...]

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

QUIET = ["--set", "run.task_eval_items=0", "--set", "run.sample_prompts=[]", "--set", "run.eval_batches=8"]


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
    for e in events:
        m = re.search(r"([\d,]+) of ([\d,]+) parameters train", e.get("message", "")) if e["event"] == "log" else None
        if m:
            trainable = int(m.group(1).replace(",", ""))
    steps = [e for e in events if e["event"] == "step"]
    wall = events[-1]["t"] - events[0]["t"]  # hello to done: set-up, steps, evals and saves
    return {"val_loss": round(evals[-1]["val_loss"], 4), "val_loss_at_0": round(evals[0]["val_loss"], 4),
            "params": config["params"], "trainable": trainable,
            "trainable_share": round(trainable / config["params"], 4),
            "tokens_per_s": round(sum(s["tokens_per_s"] for s in steps) / len(steps), 1), "wall_s": round(wall, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--pretrain-steps", type=int, default=150)
    ap.add_argument("--sft-steps", type=int, default=100)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=16.0)
    ap.add_argument("--targets", default="", help="comma list (default: the lora.targets default)")
    ap.add_argument("--lora-lr", type=float, help="LoRA's optim.lr (default: the sft preset's, as full SFT)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="a --set for all three runs (e.g. run.batch_size=8 on a busy machine)")
    ap.add_argument("--out", help="folder for the three runs (default: a temporary one)")
    a = ap.parse_args()
    root = Path(a.out or tempfile.mkdtemp(prefix="lora-bench-"))
    every = ["--eval-every", str(max(1, a.sft_steps // 2))]
    same = [x for kv in a.sets for x in ("--set", kv)]
    pre = root / "pretrain"
    if not (pre / "checkpoints" / "latest").is_file():
        train(["--stage", "pretrain", "--preset", a.preset, "--max-steps", str(a.pretrain_steps), "--out", str(pre),
               "--eval-every", str(a.pretrain_steps), *same], a.threads)
    lora = ["--set", f"lora.rank={a.rank}", "--set", f"lora.alpha={a.alpha}"]
    if a.targets:
        lora += ["--set", f"lora.targets=[{a.targets}]"]
    if a.lora_lr:
        lora += ["--set", f"optim.lr={a.lora_lr}"]
    rows = {}
    lora_name = f"lora-r{a.rank}" + (f"-lr{a.lora_lr:g}" if a.lora_lr else "")
    for name, extra in (("full", []), (lora_name, lora)):
        out = root / f"sft-{name}"
        if not (out / "checkpoints" / "latest").is_file():  # a finished run of an earlier call is reused
            train(["--stage", "sft", "--init", str(pre), "--max-steps", str(a.sft_steps), "--out", str(out),
                   *every, *same, *extra], a.threads)
        rows[name] = summary(out)
    rows["lora_vs_full"] = {"val_loss_gap": round(rows[lora_name]["val_loss"] - rows["full"]["val_loss"], 4),
                            "wall_ratio": round(rows[lora_name]["wall_s"] / rows["full"]["wall_s"], 3)}
    print(json.dumps({"preset": a.preset, "pretrain_steps": a.pretrain_steps, "sft_steps": a.sft_steps,
                      "rank": a.rank, "alpha": a.alpha, "targets": a.targets or "default", "runs": rows}, indent=1))


if __name__ == "__main__":
    main()
