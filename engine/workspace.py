"""Where things live on disk: the workspace (runs, tokenizers, pretokenized data) and run folders.

The workspace defaults to the user data directory; MINIGPT_HOME or --workspace override it.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import platformdirs

from engine.errors import UserError


def default_workspace() -> Path:
    env = os.environ.get("MINIGPT_HOME")
    if env:
        return Path(env).expanduser().resolve()
    return Path(platformdirs.user_data_dir("minigpt-studio", appauthor=False))


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


def claim_out_dir(out: Path) -> Path:
    """Use `out` as a new run folder: refuse one that exists and is not empty (nothing is ever overwritten)."""
    out = out.expanduser().resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} already exists and is not empty", "choose a new --out folder, or continue that run "
                        f"with --resume {out}", kind="output")
    out.mkdir(parents=True, exist_ok=True)
    return out
