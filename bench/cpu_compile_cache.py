"""What a CPU run pays for torch.compile the first time and the next time: real engine runs in a fresh workspace
(its inductor cache starts empty), eager, then compiled twice with the same shape, then once with hardware.compile
auto for --auto-steps (the preset's default 1000), stopped at its first step. Prints JSON: per run the seconds from
launch to the first step, the compile's own seconds (between the engine's two compile log lines), the run's CPU
seconds (the engine process and its compiler children), and what auto said.

    python bench/cpu_compile_cache.py [--preset tiny] [--steps 2] [--threads 1] [--runs eager cold warm auto]
        [--workspace DIR] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run(workspace: Path, preset: str, steps: int, threads: int, compile_mode: str, extra: list[str],
        stop_at_first_step: bool = False) -> dict:
    out = Path(tempfile.mkdtemp()) / "run"
    cmd = [sys.executable, "-m", "engine.cli", "train", "--preset", preset, "--max-steps", str(steps),
           "--eval-every", str(steps), "--out", str(out), "--events", "jsonl",
           "--set", f"hardware.compile={compile_mode}", "--set", f"hardware.threads={threads}",
           *[a for kv in extra for a in ("--set", kv)]]
    env = {**os.environ, "MINIGPT_HOME": str(workspace), "PYTHONPATH": str(ROOT)}
    env.pop("TORCHINDUCTOR_CACHE_DIR", None)        # the engine's own: <workspace>/compile/inductor
    cpu0, t0 = child_cpu(), time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    marks: dict[str, float] = {}
    said = ""
    for line in proc.stdout:
        now = time.perf_counter() - t0
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        msg = ev.get("message", "")
        verdict = msg.startswith("torch.compile (auto) ") and ("compiles:" in msg or "eager:" in msg)
        if ev.get("event") == "log" and verdict:
            said = msg
        if ev.get("event") == "log" and "compiling the model's blocks" in msg:
            marks["compile_start"] = now
        if ev.get("event") == "log" and "blocks are compiled" in msg:
            marks["compile_end"] = now
        if ev.get("event") == "step" and "first_step" not in marks:
            marks["first_step"] = now
            if stop_at_first_step:
                proc.kill()
                break
    proc.wait()
    result = {"compile": compile_mode, "rc": proc.returncode, "wall_s": round(time.perf_counter() - t0, 1),
              "cpu_s": round(child_cpu() - cpu0, 1), "to_first_step_s": round(marks.get("first_step", -1), 1),
              "auto_said": said[:160]}
    if "compile_end" in marks:
        result["compile_wall_s"] = round(marks["compile_end"] - marks["compile_start"], 1)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--auto-steps", type=int, default=1000, help="max_steps of the auto run (what auto weighs)")
    ap.add_argument("--runs", nargs="+", default=["eager", "cold", "warm", "auto"])
    ap.add_argument("--workspace", type=Path, help="reuse this workspace (default: a new one, its cache empty)")
    ap.add_argument("--set", dest="extra", action="append", default=[], help="more --set KEY=VALUE for every run")
    args = ap.parse_args()
    workspace = args.workspace or Path(tempfile.mkdtemp(prefix="compile-cache-"))
    report = {"preset": args.preset, "steps": args.steps, "threads": args.threads, "workspace": str(workspace),
              "load_avg_1m_before": os.getloadavg()[0], "runs": {}}
    modes = {"eager": "off", "cold": "on", "warm": "on", "auto": "auto"}
    for name in args.runs:
        auto = name == "auto"
        report["runs"][name] = run(workspace, args.preset, args.auto_steps if auto else args.steps, args.threads,
                                   modes[name], args.extra, stop_at_first_step=auto)
        print(json.dumps({name: report["runs"][name]}), file=sys.stderr)
    report["load_avg_1m_after"] = os.getloadavg()[0]
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
