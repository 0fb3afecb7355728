"""Where things live on disk: the workspace (runs, tokenizers, pretokenized data) and run folders.

The workspace defaults to the user data directory; MINIGPT_HOME or --workspace override it.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from engine.config import default_workspace
from engine.errors import UserError


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


def failed_before_training(folder: Path) -> bool:
    """True for a run folder holding only event logs whose current log ends in a failed `done`."""
    from engine.protocol import read_events_file
    names = {p.name for p in folder.iterdir()} - RUN_FOLDER_PLUMBING
    if "events.jsonl" not in names or any(not (n.startswith("events") and n.endswith(".jsonl")) for n in names):
        return False
    events = read_events_file(folder / "events.jsonl")
    return bool(events) and events[-1].event == "done" and events[-1].get("status") == "failed"


def claim_out_dir(out: Path) -> Path:
    """Use `out` as a new run folder: refuse one that exists and is not empty (nothing is ever overwritten).
    Called through engine.run_lock.claim_out, which holds the folder's lock while this checks it.

    The one exception is a folder left by a run that failed before it trained (only its events.jsonl, ending in a
    failed `done`): its events are kept as events-failed-<time>.jsonl and the folder is used again.
    """
    out = out.expanduser().resolve()
    if out.is_dir() and failed_before_training(out):
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        (out / "events.jsonl").rename(out / f"events-failed-{stamp}.jsonl")
        return out
    if out.exists() and (not out.is_dir() or any(p.name not in RUN_FOLDER_PLUMBING for p in out.iterdir())):
        raise UserError(f"{out} already exists and is not empty", "choose a new --out folder, or continue that run "
                        f"with --resume {out}", kind="output")
    out.mkdir(parents=True, exist_ok=True)
    return out
