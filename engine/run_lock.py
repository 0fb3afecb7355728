"""The run folder's lock: `<run>/run.lock`, held (filelock) by the one engine that owns the run, for its whole life.

A run is live iff its lock is held. Claiming a folder takes the lock first and checks the folder under it, so two
engines given the same --out (or resuming the same run) cannot both win. The studio applies the same rule with
filelock directly (studio/models/run_scan.py) and never imports this module. Knows nothing about training.
"""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock, Timeout

from engine.errors import UserError

LOCK_NAME = "run.lock"
# Long enough to ride out a studio's liveness probe (it holds the lock for microseconds), short enough that a
# second engine is refused at once.
CLAIM_TIMEOUT_S = 1.0


class RunLock:
    """The held lock of one run folder; released at `release()` or when the process ends (even on SIGKILL)."""

    def __init__(self, run_dir: Path, lock: FileLock):
        self.run_dir, self._lock = run_dir, lock

    def release(self) -> None:
        self._lock.release(force=True)


def hold_run(run_dir: Path, timeout: float = CLAIM_TIMEOUT_S) -> RunLock:
    """Take `run_dir`'s lock or refuse: another engine owns the run."""
    run_dir = Path(run_dir)
    lock = FileLock(str(run_dir / LOCK_NAME), timeout=timeout, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        raise UserError(f"{run_dir} is in use by another engine that is still running",
                        f"wait for that run to end, or stop it with `minigpt control {run_dir} stop`",
                        kind="output") from None
    except OSError as e:
        raise UserError(f"cannot lock {run_dir / LOCK_NAME}: {e.strerror or e}",
                        "the run folder must be on a writable file system", kind="output") from None
    return RunLock(run_dir, lock)


def claim_out(out: Path, timeout: float = CLAIM_TIMEOUT_S) -> RunLock:
    """Create (or reuse an empty) --out folder and hold its lock; the emptiness check runs under the lock."""
    from engine.diskio import path_error, resolve_path
    from engine.workspace import claim_out_dir
    out = resolve_path(out)
    blocker = next((p for p in (out, *out.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise UserError(f"--out {out}: {blocker} is a file, not a folder", "choose an --out path under a folder",
                        kind="output")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise path_error(e) or UserError(f"cannot create {out}: {e.strerror or e}", "choose a writable --out folder",
                                         kind="output") from None
    lock_existed = (out / LOCK_NAME).exists()
    lock = hold_run(out, timeout)
    try:
        claim_out_dir(out)
    except BaseException:
        lock.release()
        if not lock_existed:  # a refused folder is the user's: leave it as it was, without our run.lock
            (out / LOCK_NAME).unlink(missing_ok=True)
        raise
    return lock


def is_live(run_dir: Path) -> bool:
    """True while an engine holds `run_dir`'s lock. A missing lock file means no engine (nothing is created)."""
    path = Path(run_dir) / LOCK_NAME
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
