"""The model-zoo comparison: the tiny preset trained on the built-in data for the same token budget (same steps,
batch and sequence length) with each optimizer, MoE against dense at equal active parameters, LoRA against full SFT,
and a distilled student against the same student trained alone. Prints one table (val loss, task accuracy, tokens/s,
peak memory, wall time); each row is a real `minigpt train` subprocess whose events.jsonl is read afterwards.

    .venv/bin/python bench/compare.py [--steps 200] [--only optim,moe,lora,distill | --only optim:adamw,distill]
                                      [--teacher RUN] [--base RUN] [--set KEY=VALUE ...] [--json OUT.json]

A row whose feature this checkout lacks (an unknown optim.name, a missing preset, an unknown key) fails with the
engine's config error and is printed as "not available", so the table can be run on any branch. The LoRA rows start
from a pretrain base (--base, else one trained here for --steps); the distill rows learn from a teacher (--teacher,
else a wider tiny, d_model 192, trained on SFT data here for 2 x --steps). Rows run one after another, so tokens/s
and wall times compare; on a shared machine they still carry its load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

OPTIMIZERS = ("adamw", "lion", "schedulefree_adamw", "muon", "sophia")
GROUPS = ("optim", "moe", "lora", "distill")
TEACHER_SHAPE = ["model.d_model=192", "model.n_head=6", "model.n_kv_head=2"]


@dataclass
class Row:
    group: str
    name: str
    stage: str
    sets: list[str] = field(default_factory=list)
    preset: str = "tiny"
    needs: str = ""              # "base" or "teacher": a prerequisite run named on the command line
    result: dict = field(default_factory=dict)


def plan(only: list[str]) -> list[Row]:
    """The rows, filtered by --only ("group" or "group:name")."""
    # adamw is the engine's default optimizer: its row sets no optim.name, so it runs on any checkout
    rows = [Row("optim", name, "pretrain", [f"optim.name={name}"] if name != "adamw" else []) for name in OPTIMIZERS]
    rows += [Row("moe", "dense tiny", "pretrain"), Row("moe", "moe-tiny", "pretrain", preset="moe-tiny")]
    rows += [Row("lora", "full SFT", "sft", needs="base"), Row("lora", "LoRA r8", "sft", ["lora.rank=8"], needs="base")]
    rows += [Row("distill", "SFT alone", "sft"), Row("distill", "distilled", "distill", needs="teacher")]
    if not only:
        return rows
    return [r for r in rows if r.group in only or f"{r.group}:{r.name}" in only]


def train(args: list[str], out: Path, workspace: Path, log) -> dict:
    """One `minigpt train` subprocess; its outcome read from events.jsonl (and stderr when no run folder exists)."""
    cmd = [sys.executable, "-m", "engine.cli", "train", *args, "--out", str(out)]
    env = {**os.environ, "MINIGPT_HOME": str(workspace)}
    log(f"$ minigpt {' '.join(cmd[3:])}")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    events = read_events(out / "events.jsonl")
    error = next((e for e in events if e.get("event") == "error"), None)
    if proc.returncode != 0 or error is not None:
        message = error["message"] if error else next(
            (ln[len("error: "):] for ln in proc.stderr.splitlines() if ln.startswith("error: ")),
            proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}")
        kind = error["kind"] if error else ("config" if proc.returncode == 2 or "error: " in proc.stderr else "crash")
        return {"status": "not available" if kind == "config" else "failed", "reason": message}
    return summarize(events, wall)


def read_events(path: Path) -> list[dict]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def summarize(events: list[dict], wall: float) -> dict:
    """Final val loss and task accuracy, tokens/s over the run's training time, peak memory, wall time."""
    steps = [e for e in events if e.get("event") == "step"]
    evals = [e for e in events if e.get("event") == "eval"]
    last = evals[-1] if evals else {}
    tokens = steps[-1]["tokens_seen"] if steps else 0
    rates = [e["tokens_per_s"] for e in steps if e.get("tokens_per_s")]
    return {"status": "ok", "val_loss": last.get("val_loss"), "accuracy": (last.get("metrics") or {}).get("accuracy"),
            "tokens_per_s": sum(rates) / len(rates) if rates else None, "tokens": tokens,
            "peak_mem": max((e.get("mem_peak") or 0 for e in steps), default=None), "mem_kind":
            steps[-1].get("mem_kind") if steps else None, "wall_s": wall}


def common_args(steps: int, sets: list[str]) -> list[str]:
    out = ["--max-steps", str(steps), "--eval-every", "0", "--checkpoint-every", "0", "--set", "run.sample_prompts=[]"]
    for s in sets:
        out += ["--set", s]
    return out


def prerequisite(kind: str, given: str | None, steps: int, sets: list[str], scratch: Path, workspace: Path, log):
    """The LoRA rows' pretrain base or the distill rows' teacher: the one named, or one trained here."""
    if given:
        return given
    out = scratch / kind
    if kind == "base":
        args = ["--stage", "pretrain", "--preset", "tiny", *common_args(steps, sets), "--set", "run.task_eval_items=0"]
    else:
        args = ["--stage", "sft", "--preset", "tiny", *common_args(2 * steps, sets),
                *[a for s in TEACHER_SHAPE for a in ("--set", s)], "--set", "run.task_eval_items=0"]
    result = train(args, out, workspace, log)
    if result["status"] != "ok":
        raise SystemExit(f"compare: could not train the {kind}: {result.get('reason')}")
    return str(out)


def row_args(row: Row, steps: int, sets: list[str], needs: dict[str, str]) -> list[str]:
    args = ["--stage", row.stage, "--preset", row.preset, *common_args(steps, sets)]
    for s in row.sets:
        args += ["--set", s]
    if row.needs == "base":
        args += ["--init", needs["base"]]
    if row.needs == "teacher":
        args += ["--set", f"stage.teacher={needs['teacher']}"]
    return args


def fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(rows: list[Row], steps: int) -> str:
    head = f"{'group':<8} {'run':<20} {'val loss':>9} {'task acc':>9} {'tokens/s':>9} {'peak mem':>10} {'wall':>8}"
    lines = [f"tiny preset, built-in data, {steps} steps per row", head, "-" * len(head)]
    for r in rows:
        res = r.result
        if res.get("status") != "ok":
            lines.append(f"{r.group:<8} {r.name:<20} {res.get('status', 'skipped')}: {res.get('reason', '')}")
            continue
        mem = f"{res['peak_mem'] / 2**20:,.0f} MiB" if res.get("peak_mem") else "-"
        lines.append(f"{r.group:<8} {r.name:<20} {fmt(res['val_loss'], '9.4f')} {fmt(res['accuracy'], '9.3f')} "
                     f"{fmt(res['tokens_per_s'], '9,.0f')} {mem:>10} {res['wall_s']:7.0f}s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=200, help="optimizer steps per row (the same token budget for all)")
    ap.add_argument("--only", default="", help="comma-separated groups (optim, moe, lora, distill) or group:run")
    ap.add_argument("--teacher", help="the distill rows' teacher (a run folder with the built-in SFT tokenizer)")
    ap.add_argument("--base", help="the LoRA rows' pretrain checkpoint (else one is trained for --steps)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="applied to every row")
    ap.add_argument("--workspace", help="MINIGPT_HOME for the runs (default: $MINIGPT_HOME, else a temporary one)")
    ap.add_argument("--json", help="also write the rows as JSON here")
    args = ap.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    rows = plan(only)
    if not rows:
        ap.error(f"--only {args.only!r} selects no row; groups are {', '.join(GROUPS)}")
    workspace = Path(args.workspace or os.environ.get("MINIGPT_HOME") or tempfile.mkdtemp(prefix="minigpt-compare-"))
    scratch = Path(tempfile.mkdtemp(prefix="compare-runs-"))
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731 - progress on stderr, the table on stdout
    needs: dict[str, str] = {}
    done: dict[tuple, dict] = {}
    for i, row in enumerate(rows):
        if row.needs and row.needs not in needs:
            given = args.teacher if row.needs == "teacher" else args.base
            needs[row.needs] = prerequisite(row.needs, given, args.steps, args.set, scratch, workspace, log)
        argv_row = row_args(row, args.steps, args.set, needs)
        key = tuple(argv_row)
        if key not in done:  # "dense tiny" is the adamw row under another name: trained once
            done[key] = train(argv_row, scratch / f"row{i}", workspace, log)
        row.result = done[key]
        log(f"{row.group}/{row.name}: {row.result}")
    print(table(rows, args.steps))
    if args.json:
        Path(args.json).write_text(json.dumps({"steps": args.steps, "sets": args.set, "rows": [
            {"group": r.group, "run": r.name, **r.result} for r in rows]}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
