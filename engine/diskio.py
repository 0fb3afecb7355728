"""Durable writes and the operating system's refusals, as messages.

A file is written under a temporary name, fsynced, and renamed over its final name with the folder fsynced before
and after, so a crash or a power cut leaves the old file or the complete new one, never an empty file behind a
valid name. Disk full, symlink loops, a file where a folder should be and the like become one UserError naming
the path and the cause. This module knows nothing about checkpoints or runs.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from engine.errors import UserError

NO_SPACE = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
            errno.EFBIG: "the file is larger than the file-size limit allows"}
# Writers that drop errno: safetensors (Rust) names the OS error in its text; torch.save's C++ stream writer
# only reports a position mismatch ("unexpected pos") or "file write failed" when a write comes up short.
_NO_SPACE_TEXT = re.compile(r"os error (28|27|122)\b|No space left|File too large|Disk quota|unexpected pos|"
                            r"file write failed")
_LOOP_TEXT = re.compile(r"Symlink loop from '(.*)'")
PATH_CAUSES = {errno.ELOOP: ("a symbolic link loop (a link that points back to itself)", "fix or remove the link"),
               errno.ENOTDIR: ("a part of this path is a file, not a folder", "choose a path under a folder"),
               errno.EACCES: ("permission denied", "choose a folder you can write to, or fix its permissions"),
               errno.EPERM: ("operation not permitted", "choose a folder you can write to, or fix its permissions"),
               errno.EROFS: ("the file system is read-only", "choose a folder on a writable disk"),
               errno.ENAMETOOLONG: ("the name is too long for the file system", "choose a shorter path")}


def fsync_file(path: Path) -> None:
    # Windows flushes only handles opened for writing; elsewhere a read-only handle is enough.
    fd = os.open(path, os.O_RDWR if os.name == "nt" else os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a folder's entries (a new or renamed name) durable. Windows cannot open a folder for this."""
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def durable_rename(src: Path, dst: Path) -> None:
    """Rename a fully written (and fsynced) file or folder into place, durably."""
    fsync_dir(src.parent)
    os.replace(src, dst)
    fsync_dir(dst.parent)


def atomic_write_text(path: Path, text: str, what: str | None = None) -> None:
    """Replace `path` with `text` so that a reader, a crash or a power cut sees the old or the new file, whole."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with writing(what or str(path.name), path.parent):
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            durable_rename(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def pid_alive(pid: int) -> bool:
    return pid > 0 and (pid == os.getpid() or psutil.pid_exists(pid))


def free_bytes(path: Path) -> int | None:
    """Free space on the file system holding `path` (or its nearest existing parent)."""
    p = Path(path)
    for candidate in (p, *p.parents):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return None


def human_bytes(n: int | None) -> str:
    if n is None:
        return "unknown"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def no_space_cause(exc: BaseException) -> str | None:
    """Why a write failed for lack of room, or None when `exc` is not such a failure."""
    if isinstance(exc, OSError) and exc.errno in NO_SPACE:
        return NO_SPACE[exc.errno]
    if not (isinstance(exc, (OSError, RuntimeError)) or type(exc).__name__ == "SafetensorError"):
        return None
    m = _NO_SPACE_TEXT.search(str(exc))
    if m is None:
        return None
    by_text = {"28": errno.ENOSPC, "No space left": errno.ENOSPC, "27": errno.EFBIG, "File too large": errno.EFBIG,
               "122": errno.EDQUOT, "Disk quota": errno.EDQUOT}
    code = by_text.get(m.group(1) or m.group(0))
    return NO_SPACE[code] if code else "the disk is full or a file-size limit was reached"


@contextmanager
def writing(what: str, where: Path) -> Iterator[None]:
    """Turn a write that fails for lack of room into one message: what, where, why and the space left."""
    try:
        yield
    except UserError:
        raise
    except Exception as e:
        cause = no_space_cause(e)
        if cause is None:
            raise
        target = getattr(e, "filename", None) or where
        raise UserError(f"{target}: {cause} while writing {what} ({human_bytes(free_bytes(Path(where)))} free)",
                        "free some space, or choose a folder on another disk (--out, --workspace or MINIGPT_HOME)",
                        kind="disk") from None


def path_error(exc: BaseException) -> UserError | None:
    """A UserError for an OS refusal about a path (loop, not a folder, permission, disk full), else None."""
    if isinstance(exc, RuntimeError):  # pathlib before Python 3.13 reports a loop this way
        m = _LOOP_TEXT.search(str(exc))
        if m:
            cause, hint = PATH_CAUSES[errno.ELOOP]
            return UserError(f"{m.group(1)}: {cause}", hint, kind="path")
    if not isinstance(exc, OSError):
        return None
    where = exc.filename if exc.filename is not None else Path.cwd()
    if exc.errno in NO_SPACE:
        return UserError(f"{where}: {NO_SPACE[exc.errno]} ({human_bytes(free_bytes(Path(where)))} free)",
                         "free some space, or choose a folder on another disk", kind="disk")
    if exc.errno in PATH_CAUSES and exc.filename is not None:
        cause, hint = PATH_CAUSES[exc.errno]
        return UserError(f"{where}: {cause}", hint, kind="path")
    return None


def resolve_path(path: str | Path) -> Path:
    """Path.resolve() that reports a symlink loop as a UserError naming the path."""
    try:
        return Path(path).expanduser().resolve()
    except (OSError, RuntimeError) as e:
        err = path_error(e)
        if err is None:
            raise
        raise err from None
