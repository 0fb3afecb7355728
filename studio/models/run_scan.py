"""Read what the Runs table shows from a run folder: run.yaml, the head and tail of events.jsonl, checkpoints.

Pure Python (no Qt): reads at most a few hundred KB per run, so a whole workspace scans quickly in a worker.
A run whose lock no engine holds any more, without a `done` event, is `interrupted`.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml
from filelock import FileLock, Timeout

from engine.protocol import (
    ConfigEvent,
    DoneEvent,
    ErrorEvent,
    EvalEvent,
    Event,
    HelloEvent,
    ProtocolError,
    StepEvent,
    parse_event,
    typed,
)

HEAD_BYTES = 64 << 10
TAIL_BYTES = 256 << 10
RUN_LOCK = "run.lock"  # engine/run_lock.py LOCK_NAME (the studio does not import that module)


@dataclass
class RunInfo:
    path: str
    name: str
    stage: str = ""
    status: str = "unknown"
    steps: int = 0
    total_steps: int = 0
    best_val: float | None = None
    started: float | None = None
    ended: float | None = None
    pid: int | None = None
    latest_ckpt: str | None = None
    best_ckpt: str | None = None
    error: str = ""                  # the message of the run's last `error` event

    @property
    def failed_before_training(self) -> bool:
        """Failed in set-up (data, tokenizer, model) before its first step: nothing in it is worth keeping."""
        return self.status == "failed" and self.steps == 0 and not self.latest_ckpt and not self.best_ckpt

    @property
    def duration_s(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return max(0.0, self.ended - self.started)

    @property
    def checkpoint(self) -> str | None:
        """The checkpoint to chat with: best if there is one, else latest."""
        return self.best_ckpt or self.latest_ckpt


def _events(chunk: bytes) -> list[Event]:
    out = []
    for line in chunk.splitlines():
        try:
            out.append(parse_event(line.decode("utf-8", errors="replace")))
        except ProtocolError:
            continue
    return out


def _pointer(ckpt_root: Path, name: str) -> str | None:
    try:
        target = (ckpt_root / name).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    folder = ckpt_root / target
    return str(folder) if target and folder.is_dir() else None


def run_live(folder: str | Path) -> bool:
    """True while an engine holds the run's `run.lock` (engine/run_lock.py: a run is live iff its lock is held).

    Probed with filelock directly: the lock is taken for an instant and given back when it was free. A folder
    without the file (older runs, runs that ended) is not live, and nothing is created in it.
    """
    path = Path(folder) / RUN_LOCK
    if not path.exists():
        return False
    probe = FileLock(str(path), timeout=0, thread_local=False)
    try:
        probe.acquire()
    except Timeout:
        return True
    except OSError:
        return False
    probe.release(force=True)
    return False


def scan_run(folder: str | Path) -> RunInfo:
    folder = Path(folder)
    info = RunInfo(path=str(folder), name=folder.name)
    try:
        doc = yaml.safe_load((folder / "run.yaml").read_text(encoding="utf-8")) or {}
        info.stage = str((doc.get("stage") or {}).get("name") or "")
        info.total_steps = int((doc.get("run") or {}).get("max_steps") or 0)
    except (OSError, yaml.YAMLError, AttributeError, ValueError):
        pass
    events_path = folder / "events.jsonl"
    head: list[dict] = []
    tail: list[dict] = []
    try:
        size = events_path.stat().st_size
        with open(events_path, "rb") as f:
            head = _events(f.read(HEAD_BYTES))
            if size > HEAD_BYTES:
                f.seek(max(HEAD_BYTES, size - TAIL_BYTES))
                tail = _events(f.read())  # a line cut by the seek fails to parse and is skipped
    except OSError:
        pass
    events = head + tail
    for ev in events:
        data = typed(ev)
        if isinstance(data, HelloEvent):
            info.started = ev.t if info.started is None else info.started
            info.pid = data.pid or None  # a resumed run: the newest process is the one that counts
        elif isinstance(data, ConfigEvent) and not info.stage:
            info.stage = str((data.config.get("stage") or {}).get("name") or "")
        elif isinstance(data, StepEvent):
            info.steps = max(info.steps, data.step)
            info.total_steps = data.total_steps or info.total_steps
        elif isinstance(data, ErrorEvent):
            info.error = data.message or ""
        elif isinstance(data, EvalEvent) and data.val_loss is not None:
            info.best_val = data.val_loss if info.best_val is None else min(info.best_val, data.val_loss)
    last_hello = max((i for i, ev in enumerate(events) if ev.event == "hello"), default=-1)
    last_done = max((i for i, ev in enumerate(events) if ev.event == "done"), default=-1)
    if events:
        info.ended = events[-1].t or None
    if last_done > last_hello:
        done: DoneEvent = typed(events[last_done])
        info.status = done.status or "completed"
        if info.status == "failed" and any(ev.event == "error" and ev.get("kind") == "diverged"
                                           for ev in events[max(last_hello, 0):]):
            info.status = "diverged"
        info.steps = int(done.summary.get("steps") or info.steps)
        if isinstance(done.summary.get("best_val_loss"), (int, float)):
            info.best_val = done.summary["best_val_loss"]
    elif run_live(folder):
        info.status = "running"
        info.ended = None
    elif events:
        info.status = "interrupted"
    else:
        info.status = "empty"
    ckpts = folder / "checkpoints"
    info.latest_ckpt = _pointer(ckpts, "latest")
    info.best_ckpt = _pointer(ckpts, "best")
    if info.started is None:
        try:
            info.started = folder.stat().st_mtime
        except OSError:
            pass
    return info


def scan_workspace(runs_dir: str | Path, job=None) -> list[RunInfo]:
    """Every run folder under `runs_dir`, newest first. `job` (a workers.Job) gets progress and may cancel."""
    runs_dir = Path(runs_dir)
    try:
        folders = sorted((p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")), reverse=True)
    except OSError:
        return []
    out = []
    for i, folder in enumerate(folders):
        if job is not None:
            job.check()
            job.progress(i, len(folders))
        out.append(scan_run(folder))
    out.sort(key=lambda r: r.started or 0.0, reverse=True)
    return out


def delete_run(path: str | Path, runs_dir: str | Path) -> None:
    """Remove a run folder, refusing anything that is not directly inside the workspace's runs folder."""
    path, runs_dir = Path(path).resolve(), Path(runs_dir).resolve()
    if path.parent != runs_dir:
        raise ValueError(f"{path} is not a run folder of {runs_dir}")
    shutil.rmtree(path)


def checkpoints_of(run_dir: str | Path) -> list[str]:
    root = Path(run_dir) / "checkpoints"
    try:
        return sorted(str(p) for p in root.iterdir() if p.is_dir() and p.name.startswith("step-"))
    except OSError:
        return []


def is_checkpoint(folder: str | Path) -> bool:
    return os.path.isfile(os.path.join(folder, "model.safetensors")) and os.path.isfile(
        os.path.join(folder, "config.json"))
