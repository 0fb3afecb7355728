"""The model-zoo comparison: the tiny preset trained on the built-in data for the same token budget (same steps,
batch, sequence length, seed, precision and eval) with each optimizer, MoE against dense at equal active parameters,
LoRA against full SFT, and a distilled student against the same student trained alone. Prints one table (val loss,
task accuracy, tokens/s, peak memory, wall time, CPU seconds, the row's lr); each row is a real `minigpt train`
subprocess whose events.jsonl is read afterwards.

    .venv/bin/python bench/compare.py [--steps 150] [--jobs 2] [--results DIR] [--only optim,moe,lora,distill |
                                      --only optim:adamw,distill] [--teacher RUN] [--base RUN] [--set KEY=VALUE ...]

A row whose feature this checkout lacks (an unknown optim.name, a missing preset, an unknown key) fails with the
engine's config error and is printed as "not available", so the table can be run on any branch. The LoRA rows start
from a pretrain base (--base, else one trained here for --steps); the distill rows learn from a teacher (--teacher,
else a wider tiny, d_model 192, trained on SFT data here for 2 x --steps). --jobs N trains N rows at once, each on
`hardware.threads` (1 by default) threads. With --results DIR every finished row (and the base and teacher) is kept
there and a rerun skips it, so an interrupted comparison resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

OPTIMIZERS = ("adamw", "lion", "schedulefree_adamw", "muon", "sophia")
GROUPS = ("optim", "moe", "lora", "distill")
TEACHER_SHAPE = ["model.d_model=192", "model.n_head=6", "model.n_kv_head=2"]
# What every row shares besides steps and data, so that only the row's own knob differs. fp32 and eager are pinned
# because `auto` may resolve differently per machine; the seed fixes the init and the data order.
FAIR = ["hardware.precision=fp32", "hardware.compile=off", "run.seed=0", "data.seed=0", "run.sample_prompts=[]"]
# The per-optimizer lr multipliers of engine/optim.py (LION_LR_SCALE, MUON_LR_SCALE, SOPHIA_LR_SCALE), spelled out
# so the table says the lr each row really used without importing torch here.
LR_NOTE = {"lion": "x1/3", "sophia": "x1/3", "muon": "x3 matrices"}


@dataclass
class Row:
    group: str
    name: str
    stage: str
    sets: list[str] = field(default_factory=list)
    preset: str = "tiny"
    needs: str = ""              # "base" or "teacher": a prerequisite run named on the command line
    result: dict = field(default_factory=dict)

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", f"{self.group}-{self.name}".lower()).strip("-")


def plan(only: list[str]) -> list[Row]:
    """The rows, filtered by --only ("group" or "group:name")."""
    # adamw is the engine's default optimizer: its row sets no optim.name, so it runs on any checkout
    rows = [Row("optim", name, "pretrain", [f"optim.name={name}"] if name != "adamw" else []) for name in OPTIMIZERS]
    rows += [Row("moe", "dense tiny", "pretrain"), Row("moe", "moe-tiny", "pretrain", preset="moe-tiny")]
    rows += [Row("lora", "full SFT", "sft", needs="base"), Row("lora", "LoRA r4", "sft", ["lora.rank=4"], needs="base")]
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
    with tempfile.TemporaryFile("w+", encoding="utf-8") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        # wait4 rather than wait: the child's own CPU seconds, which other jobs on a shared machine inflate far
        # less than its wall time (at 1 thread; with more threads, spinning on a busy machine counts too)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read()
    wall = time.perf_counter() - t0
    events = read_events(out / "events.jsonl")
    error = next((e for e in events if e.get("event") == "error"), None)
    if proc.returncode != 0 or error is not None:
        message = error["message"] if error else next(
            (ln[len("error: "):] for ln in stderr.splitlines() if ln.startswith("error: ")),
            stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {proc.returncode}")
        kind = error["kind"] if error else ("config" if proc.returncode == 2 or "error: " in stderr else "crash")
        return {"status": "not available" if kind == "config" else "failed", "reason": message}
    return {**summarize(events, wall), "cpu_s": usage.ru_utime + usage.ru_stime, "lr": row_lr(out / "run.yaml")}


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


def row_lr(run_yaml: Path) -> str:
    """The peak lr the run resolved (optim.lr) and the optimizer's own multiplier, e.g. "3e-3 x1/3"."""
    try:
        run = yaml.safe_load(run_yaml.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return "?"
    optim, lora = run.get("optim") or {}, run.get("lora") or {}
    note = LR_NOTE.get(optim.get("name", ""), "")
    if lora.get("rank") and lora.get("lr_ratio", 1) != 1:  # engine/optim.py scale_adapter_lr
        note = f"{note} x{lora['lr_ratio']:g} adapters".strip()
    return f"{optim.get('lr', 0):.0e}".replace("e-0", "e-") + (f" {note}" if note else "")


def common_args(steps: int, threads: int, sets: list[str]) -> list[str]:
    out = ["--max-steps", str(steps), "--eval-every", "0", "--checkpoint-every", "0"]
    for s in [*FAIR, f"hardware.threads={threads}", *sets]:
        out += ["--set", s]
    return out


def prerequisite_args(kind: str, steps: int, threads: int, sets: list[str]) -> list[str]:
    """The LoRA rows' pretrain base, or the distill rows' teacher (a wider tiny trained on SFT data for 2x steps)."""
    if kind == "base":
        return ["--stage", "pretrain", "--preset", "tiny", *common_args(steps, threads, sets),
                "--set", "run.task_eval_items=0"]
    return ["--stage", "sft", "--preset", "tiny", *common_args(2 * steps, threads, sets),
            *[a for s in TEACHER_SHAPE for a in ("--set", s)], "--set", "run.task_eval_items=0"]


def row_args(row: Row, steps: int, threads: int, sets: list[str], needs: dict[str, str]) -> list[str]:
    args = ["--stage", row.stage, "--preset", row.preset, *common_args(steps, threads, sets)]
    for s in row.sets:
        args += ["--set", s]
    if row.needs == "base":
        args += ["--init", needs["base"]]
    if row.needs == "teacher":
        args += ["--set", f"stage.teacher={needs['teacher']}"]
    return args


class Store:
    """Finished results as one JSON file per row (with the argv that made it) in --results, read back on a rerun."""

    def __init__(self, root: Path):
        self.root = root
        (root / "runs").mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()

    def get(self, slug: str, argv: list[str]) -> dict | None:
        try:
            saved = json.loads((self.root / f"{slug}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        # a result made with other settings (steps, --set) is not this row's: train again
        return saved["result"] if saved.get("argv") == argv and saved.get("result", {}).get("status") == "ok" else None

    def put(self, slug: str, argv: list[str], result: dict) -> None:
        with self.lock:
            tmp = self.root / f"{slug}.json.tmp"
            tmp.write_text(json.dumps({"argv": argv, "result": result}, indent=1), encoding="utf-8")
            tmp.replace(self.root / f"{slug}.json")


def fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


COLUMNS = ("val loss", "task acc", "tokens/s", "peak mem", "wall", "CPU", "lr")
WIDTHS = (9, 9, 9, 10, 8, 7, -16)   # the text table's column widths; negative = left-aligned


def cells(res: dict, digits: tuple[str, str] = (".4f", ".3f")) -> list[str]:
    """One finished row's values as text, in COLUMNS order: both tables format through here."""
    mem = f"{res['peak_mem'] / 2**20:,.0f} MiB" if res.get("peak_mem") else "-"
    cpu = "-" if res.get("cpu_s") is None else f"{res['cpu_s']:.0f} s"
    return [fmt(res["val_loss"], digits[0]), fmt(res["accuracy"], digits[1]), fmt(res["tokens_per_s"], ",.0f"),
            mem, f"{res['wall_s']:.0f} s", cpu, str(res.get("lr", "?"))]


def table(rows: list[Row], steps: int, tokens_per_step: int | None = None) -> str:
    budget = f", {steps * tokens_per_step:,} tokens" if tokens_per_step else ""

    def line(group: str, name: str, values: list[str]) -> str:
        return f"{group:<8} {name:<20} " + " ".join(
            f"{v:<{-w}}" if w < 0 else f"{v:>{w}}" for v, w in zip(values, WIDTHS, strict=True))

    head = line("group", "run", list(COLUMNS))
    lines = [f"tiny preset, built-in data, {steps} steps per row{budget}", head, "-" * len(head)]
    for r in rows:
        res = r.result
        if res.get("status") != "ok":
            lines.append(f"{r.group:<8} {r.name:<20} {res.get('status', 'skipped')}: {res.get('reason', '')}")
        else:
            lines.append(line(r.group, r.name, cells(res)))
    return "\n".join(lines)


def markdown(rows: list[Row]) -> str:
    """The same table in Markdown, for the README and bench/results/compare.md."""
    columns = ["group", "run", *COLUMNS]
    lines = ["| " + " | ".join(columns).replace("peak mem", "peak RSS") + " |", "|---" * len(columns) + "|"]
    for r in rows:
        res = r.result
        if res.get("status") != "ok":
            values = [f"{res.get('status', 'skipped')}: {res.get('reason', '')}"] + [""] * (len(COLUMNS) - 1)
        else:
            values = cells(res, (".3f", ".2f"))
        lines.append("| " + " | ".join([r.group, r.name, *values]) + " |")
    return "\n".join(lines)


def run_all(rows: list[Row], args, store: Store, workspace: Path, log) -> None:
    """Train the prerequisites and rows, --jobs at a time, prerequisites first so no worker waits long on one."""
    runs = store.root / "runs"
    pool = ThreadPoolExecutor(max_workers=max(1, args.jobs))
    by_argv: dict[tuple, Future] = {}

    def cached(slug: str, argv: list[str], out: Path) -> dict:
        hit = store.get(slug, argv)
        if hit is not None:
            log(f"{slug}: kept from {store.root / (slug + '.json')}")
            return hit
        if out.exists():  # a row interrupted last time: its folder is set aside, the row trains from the start
            shutil.rmtree(out.with_name(out.name + ".interrupted"), ignore_errors=True)
            out.rename(out.with_name(out.name + ".interrupted"))
        result = train(argv, out, workspace, log)
        if result["status"] == "ok":
            store.put(slug, argv, result)
        log(f"{slug}: {result}")
        return result

    def prerequisite(kind: str, argv: list[str]) -> str | None:
        return str(runs / kind) if cached(kind, argv, runs / kind)["status"] == "ok" else None

    needs: dict[str, Future] = {}
    for kind in dict.fromkeys(r.needs for r in rows if r.needs):
        given = args.teacher if kind == "teacher" else args.base
        if given:
            needs[kind] = Future()
            needs[kind].set_result(given)
            continue
        needs[kind] = pool.submit(prerequisite, kind, prerequisite_args(kind, args.steps, args.threads, args.set))

    def one(row: Row) -> dict:
        resolved = {}
        if row.needs:
            resolved[row.needs] = needs[row.needs].result()
            if resolved[row.needs] is None:
                return {"status": "failed", "reason": f"its {row.needs} could not be trained"}
        argv = row_args(row, args.steps, args.threads, args.set, resolved)
        return cached(row.slug, argv, runs / row.slug)

    # rows without prerequisites first; "dense tiny" is the adamw row under another name: trained once
    futures = {}
    for row in sorted(rows, key=lambda r: bool(r.needs)):
        key = (row.stage, row.preset, tuple(row.sets), row.needs)
        if key not in by_argv:
            by_argv[key] = pool.submit(one, row)
        futures[row.slug] = by_argv[key]
    for row in rows:
        row.result = futures[row.slug].result()
    pool.shutdown()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=150, help="optimizer steps per row (the same token budget for all)")
    ap.add_argument("--jobs", type=int, default=1, help="rows trained at once (each on --threads threads)")
    ap.add_argument("--threads", type=int, default=1, help="hardware.threads of every row")
    ap.add_argument("--only", default="", help="comma-separated groups (optim, moe, lora, distill) or group:run")
    ap.add_argument("--teacher", help="the distill rows' teacher (a run folder with the built-in SFT tokenizer)")
    ap.add_argument("--base", help="the LoRA rows' pretrain checkpoint (else one is trained for --steps)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="applied to every row")
    ap.add_argument("--results", help="keep run folders and finished rows here; a rerun skips finished rows")
    ap.add_argument("--workspace", help="MINIGPT_HOME for the runs (default: $MINIGPT_HOME, else a temporary one)")
    ap.add_argument("--json", help="also write the rows as JSON here")
    ap.add_argument("--markdown", help="also write the table as Markdown here")
    args = ap.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    rows = plan(only)
    if not rows:
        ap.error(f"--only {args.only!r} selects no row; groups are {', '.join(GROUPS)}")
    if args.jobs < 1 or args.threads < 1:
        ap.error("--jobs and --threads must be >= 1")
    workspace = Path(args.workspace or os.environ.get("MINIGPT_HOME") or tempfile.mkdtemp(prefix="minigpt-compare-"))
    store = Store(Path(args.results) if args.results else Path(tempfile.mkdtemp(prefix="compare-runs-")))
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731 - progress on stderr, the table on stdout
    run_all(rows, args, store, workspace, log)
    tokens = next((r.result["tokens"] for r in rows if r.result.get("status") == "ok"), 0)
    print(table(rows, args.steps, tokens // args.steps if tokens else None))
    if args.markdown:
        Path(args.markdown).write_text(markdown(rows) + "\n", encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps({"steps": args.steps, "sets": args.set, "jobs": args.jobs, "rows": [
            {"group": r.group, "run": r.name, **r.result} for r in rows]}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
