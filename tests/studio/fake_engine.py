"""A stand-in for `python -m engine.cli` that prints scripted protocol lines, for the studio's failure paths.

Usage: fake_engine.py MODE [--workspace W] [train ...]. Modes: ok, crash, exit_nonzero, garbage, error, slow,
ignore_stop, serve_ok, serve_fail, serve_stubborn (ignores the end of its stdin). It writes a run folder
(events.jsonl, run.yaml, a checkpoint) like the engine.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

OUT = os.fdopen(os.dup(1), "w", buffering=1)


class Run:
    def __init__(self, workspace: str):
        stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"
        self.dir = Path(workspace, "runs", f"{stamp}-pretrain-fake")
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "run.yaml").write_text("stage:\n  name: pretrain\nrun:\n  max_steps: 4\n")
        self.events = open(self.dir / "events.jsonl", "a", buffering=1)

    def emit(self, event: str, **data) -> None:
        line = json.dumps({"v": 1, "event": event, "t": round(time.time(), 3), **data})
        OUT.write(line + "\n")
        self.events.write(line + "\n")

    def checkpoint(self, step: int, reason: str) -> None:
        folder = self.dir / "checkpoints" / f"step-{step:06d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.safetensors").write_bytes(b"")
        (folder / "config.json").write_text("{}")
        for name in ("latest", "best"):
            (self.dir / "checkpoints" / name).write_text(folder.name)
        self.emit("checkpoint", step=step, path=str(folder), reason=reason)

    def start(self) -> None:
        self.emit("hello", engine_version="fake", pid=os.getpid(), device="CPU (fake)", run_dir=str(self.dir))
        self.emit("config", config={"stage": {"name": "pretrain"}, "run": {"max_steps": 4}}, params=1234)

    def step(self, step: int, total: int = 4) -> None:
        self.emit("step", step=step, total_steps=total, epoch=step / 100, loss=5.0 - step * 0.1, lr=1e-3,
                  grad_norm=1.0, tokens_seen=step * 64, tokens_per_s=1000.0, eta_s=1.0, mem_allocated=1 << 20,
                  mem_reserved=1 << 20, mem_peak=1 << 20, mem_kind="rss")


def commands() -> list[str]:
    got: list[str] = []

    def read():
        for line in sys.stdin:
            try:
                got.append(json.loads(line)["cmd"])
            except (ValueError, KeyError):
                pass
    threading.Thread(target=read, daemon=True).start()
    return got


def main() -> int:
    mode = sys.argv[1]
    args = sys.argv[2:]
    workspace = args[args.index("--workspace") + 1] if "--workspace" in args else os.getcwd()
    if mode.startswith("serve"):
        return serve(mode)
    got = commands()
    run = Run(workspace)
    run.start()
    if mode == "linger":  # done is sent, then the process takes a while to exit (closing files, interpreter teardown)
        run.step(1, 1)
        run.emit("done", status="completed", summary={"steps": 1})
        time.sleep(3)
        return 0
    if mode == "ok":
        for s in range(1, 5):
            run.step(s)
        run.emit("eval", step=4, val_loss=4.5, ppl=90.0, metrics={"task_accuracy": 0.25})
        run.emit("sample", step=4, prompt="The", completion=" cat sat")
        run.checkpoint(4, "final")
        run.emit("done", status="completed", summary={"steps": 4, "best_val_loss": 4.5})
        return 0
    if mode == "crash":
        run.step(1)
        print("Fatal Python error: Segmentation fault (pretend)", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "exit_nonzero":
        run.step(1)
        print("RuntimeError: something broke deep inside", file=sys.stderr, flush=True)
        return 3
    if mode == "garbage":
        run.step(1)
        OUT.write("Loading weights... 100%\n")
        for _ in range(200):  # keep running until the studio stops us
            if "stop" in got:
                run.emit("done", status="stopped", summary={"steps": 1})
                return 0
            time.sleep(0.05)
        return 0
    if mode == "error":
        run.step(1)
        run.emit("error", kind="internal", message="ValueError: loss is NaN at step 2",
                 hint="lower optim.lr or enable grad clipping", traceback='Traceback (most recent call last):\n'
                 '  File "engine/train/loop.py", line 90, in run\nValueError: loss is NaN at step 2\n')
        run.emit("done", status="failed", summary={"error": "loss is NaN"})
        return 1
    if mode in ("slow", "ignore_stop"):
        step = 0
        while step < 2000:
            step += 1
            run.step(step, 2000)
            if "pause" in got:
                got.remove("pause")
                run.emit("paused", step=step)
            if "resume" in got:
                got.remove("resume")
                run.emit("resumed", step=step)
            if "save" in got:
                got.remove("save")
                run.checkpoint(step, "requested")
            if "stop" in got and mode == "slow":
                run.checkpoint(step, "stop")
                run.emit("done", status="stopped", summary={"steps": step})
                return 0
            time.sleep(0.05)
        return 0
    raise SystemExit(f"unknown mode {mode}")


def serve(mode: str) -> int:
    if mode == "serve_fail":
        print("error: /nope: no checkpoint here", file=sys.stderr, flush=True)
        return 2
    OUT.write(json.dumps({"v": 1, "event": "ready", "t": time.time(), "checkpoint": "fake", "device": "cpu",
                          "params": 10, "step": 4}) + "\n")
    if mode == "serve_stubborn":  # a server that does not exit when its stdin closes: only a kill ends it
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sys.stdin.read()
        time.sleep(600)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["cmd"] == "generate":
            for piece in ("Hello", ",", " world"):
                OUT.write(json.dumps({"v": 1, "event": "token", "t": time.time(), "id": cmd["id"], "text": piece})
                          + "\n")
            OUT.write(json.dumps({"v": 1, "event": "done", "t": time.time(), "id": cmd["id"], "status": "completed",
                                  "stats": {"prompt_tokens": 5, "completion_tokens": 3, "tokens_per_s": 30.0,
                                            "time_to_first_token": 0.01}}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
