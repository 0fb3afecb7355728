"""The layout of a run folder's checkpoints/ on disk: step folders, the `latest` and `best` pointer files, what
makes a step folder whole, and tidying the leftovers of interrupted saves. No torch, so engine.workspace (which the
studio imports) may use it; writing and loading checkpoints is engine/checkpoint.py's.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from engine import diskio

WEIGHTS, CONFIG, TOKENIZER, STATE = "model.safetensors", "config.json", "tokenizer.json", "trainer_state.pt"


def step_dir_name(step: int) -> str:
    return f"step-{step:06d}"


def write_pointer(ckpt_root: Path, name: str, target: str) -> None:
    diskio.atomic_write_text(ckpt_root / name, target + "\n", what=f"checkpoints/{name}")


def read_pointer(ckpt_root: Path, name: str) -> str | None:
    """The step folder name `latest` or `best` holds, or None when the file is missing or unreadable."""
    try:
        return (ckpt_root / name).read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def step_number(folder: Path) -> int | None:
    digits = folder.name[5:]
    return int(digits) if folder.name.startswith("step-") and digits.isdigit() else None


def step_folders(ckpt_root: Path) -> list[Path]:
    """The step-NNNNNN folders under checkpoints/, oldest first (numerically, past six digits too)."""
    if not ckpt_root.is_dir():
        return []
    return sorted((p for p in ckpt_root.iterdir() if step_number(p) is not None and p.is_dir()), key=step_number)


def missing_parts(folder: Path, resumable: bool = True) -> list[str]:
    """What keeps a step folder from being a whole checkpoint (empty when it is one)."""
    needed = (WEIGHTS, CONFIG, TOKENIZER) + ((STATE,) if resumable else ())
    gaps = [f"no {n}" for n in needed if not (folder / n).is_file()]
    gaps += [f"{n} is empty" for n in needed if (folder / n).is_file() and (folder / n).stat().st_size == 0]
    if not gaps:
        try:
            if json.loads((folder / CONFIG).read_text(encoding="utf-8")).get("step") != step_number(folder):
                gaps.append(f"{CONFIG} names another step")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            gaps.append(f"{CONFIG} is unreadable")
    return gaps


def newest_complete(ckpt_root: Path, resumable: bool = True) -> Path | None:
    for folder in reversed(step_folders(ckpt_root)):
        if not missing_parts(folder, resumable):
            return folder
    return None


_ORPHAN = re.compile(r"^\.(step-\d+)\.(tmp|old|del)-(\d+)$|^\.(latest|best)\.tmp(?:-(\d+))?$")


def clean_orphans(ckpt_root: Path) -> list[str]:
    """Tidy what a killed save left under checkpoints/ (only a dead process's): half-written .step-*.tmp-PID folders
    are removed, a .step-*.old-PID whose replacement never arrived is put back. Returns one line per action."""
    done: list[str] = []
    if not ckpt_root.is_dir():
        return done
    for p in sorted(ckpt_root.iterdir()):
        m = _ORPHAN.match(p.name)
        if not m:
            continue
        pid = m.group(3) or m.group(5)
        if pid is not None and diskio.pid_alive(int(pid)):
            continue  # a live save (or a recycled pid): not ours to touch
        final = ckpt_root / (m.group(1) or m.group(4))
        if m.group(2) == "old" and not final.exists():
            p.rename(final)
            done.append(f"restored {final.name} from {p.name}, left by a save that was interrupted")
        elif p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
            done.append(f"removed {p.name}, left by a save that was interrupted (process {pid} is gone)")
        else:
            p.unlink(missing_ok=True)
            done.append(f"removed {p.name}, left by an interrupted pointer update")
    return done


def later_steps(ckpt_root: Path, step: int) -> list[Path]:
    """Step folders newer than `step` (resuming from an older checkpoint would overwrite them)."""
    return [p for p in step_folders(ckpt_root) if step_number(p) > step]
