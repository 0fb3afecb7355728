"""Where things live on disk: the workspace (runs, tokenizers, pretokenized data) and run folders.

The workspace defaults to the user data directory; MINIGPT_HOME or --workspace override it.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from engine.config import default_workspace
from engine.diskio import path_error, pid_alive, resolve_path
from engine.errors import UserError
from engine.run_folder import clean_orphans, step_folders


def resolve_workspace(arg: str | None) -> Path:
    ws = Path(arg).expanduser().resolve() if arg else default_workspace()
    try:
        ws.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create workspace {ws}: {e.strerror}", "pass --workspace or set MINIGPT_HOME to a "
                        "writable folder", kind="workspace") from None
    return ws


def run_id(stage: str, name: str = "") -> str:
    """UTC time + stage + short name, e.g. 20261128-081500-pretrain-tiny."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    short = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:40]
    return "-".join(p for p in (stamp, stage, short) if p)


def new_run_dir(workspace: Path, stage: str, name: str = "") -> Path:
    runs = workspace / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    base = run_id(stage, name)
    for i in range(1000):
        candidate = runs / (base if i == 0 else f"{base}-{i}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise UserError(f"could not create a run folder under {runs}", kind="workspace")


# What an engine puts in a run folder while it owns it (engine/run_lock.py, engine/control.py): not the run's content.
RUN_FOLDER_PLUMBING = {"run.lock", "control"}
RUN_LEFTOVERS = re.compile(r"^(events.*\.jsonl|run.*\.yaml|run\.lock|control|checkpoints)$")


def unfinished_run(folder: Path) -> str | None:
    """How a run folder without any checkpoint ended ("failed", "killed", ...), or None when it is not one: it holds
    other files, a step folder, or a process that is still running. Such a folder may be used again as --out."""
    from engine.protocol import read_events_file
    names = {p.name for p in folder.iterdir()}
    if "events.jsonl" not in names or not all(RUN_LEFTOVERS.match(n) for n in names):
        return None
    ckpts = folder / "checkpoints"
    if ckpts.exists() and (not ckpts.is_dir() or step_folders(ckpts)
                           or any(not n.name.startswith(".") for n in ckpts.iterdir())):
        return None
    events = read_events_file(folder / "events.jsonl")
    if events and events[-1].event == "done":
        return str(events[-1].get("status") or "ended")
    pids = [e.get("pid") for e in events if e.event == "hello" and isinstance(e.get("pid"), int)]
    if not pids or pid_alive(pids[-1]):
        return None  # still running (or still starting, before its hello): not ours to take
    return "killed"


def keep_aside(file: Path, stem: str, suffix: str) -> None:
    """Rename `file` to stem + suffix beside it, adding -1, -2, ... rather than replacing an earlier one."""
    for i in range(1000):
        target = file.with_name(f"{stem}{f'-{i}' if i else ''}{suffix}")
        if not target.exists():
            file.rename(target)
            return
    raise UserError(f"{file.parent}: too many earlier attempts kept", "clear out old events-*.jsonl files",
                    kind="output")


def claim_out_dir(out: Path) -> Path:
    """Use `out` as a new run folder: refuse one that exists and is not empty (nothing is ever overwritten).
    Called through engine.run_lock.claim_out, which holds the folder's lock while this checks it.

    The one exception is a folder left by a run that ended before its first checkpoint (failed, or killed): its
    events are kept as events-<how>-<time>.jsonl, its run.yaml as run-<how>-<time>.yaml, and the folder is used again.
    """
    out = resolve_path(out)
    blocker = next((p for p in (out, *out.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None and blocker != out:
        raise UserError(f"--out {out}: {blocker} is a file, not a folder", "choose an --out path under a folder",
                        kind="output")
    how = unfinished_run(out) if out.is_dir() else None
    if how:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        clean_orphans(out / "checkpoints")
        keep_aside(out / "events.jsonl", f"events-{how}-{stamp}", ".jsonl")
        if (out / "run.yaml").exists():
            keep_aside(out / "run.yaml", f"run-{how}-{stamp}", ".yaml")
        return out
    if out.exists() and (not out.is_dir() or any(p.name not in RUN_FOLDER_PLUMBING for p in out.iterdir())):
        is_run = (out / "run.yaml").is_file() or (out / "checkpoints").is_dir()
        raise UserError(f"{out} already exists and is not empty",
                        f"choose a new --out folder, or continue that run with --resume {out}" if is_run
                        else "choose a new --out folder (an existing folder is used only when it is empty)",
                        kind="output")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise path_error(e) or e from None
    return out
