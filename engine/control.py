"""The engine's side of the control channel in a run folder (the writer is engine.protocol.write_control_command):
the engine that owns the run takes each command file from `<run>/control/`, queues it as if it came on stdin and
deletes it; it acknowledges through the usual events (`paused`, `resumed`, a `manual` checkpoint, `done`). So a
run stays controllable after the studio that started it is gone. `minigpt control RUN_DIR CMD` lives here too.
Stdlib and filelock only: no torch.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from engine.errors import UserError
from engine.protocol import RUN_COMMANDS, ProtocolError, control_dir, parse_command, write_control_command

ACK_TIMEOUT_S = 30.0


def take_commands(folder: Path, on_bad=None) -> list[dict]:
    """Read and delete every command file in `folder`, oldest first. A bad file is reported and removed."""
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json") and not n.startswith("."))
    except OSError:
        return []
    out = []
    for name in names:
        path = folder / name
        try:
            text = path.read_text(encoding="utf-8")
            path.unlink()
        except OSError:
            continue  # taken by someone else, or not readable yet: the next poll sees it again if it is still there
        try:
            cmd = parse_command(text)
        except ProtocolError as e:
            if on_bad is not None:
                on_bad(f"{path}: {e}")
            continue
        if cmd["cmd"] not in RUN_COMMANDS:
            if on_bad is not None:
                on_bad(f"{path}: {cmd['cmd']!r} is not a run command; expected one of {', '.join(RUN_COMMANDS)}")
            continue
        out.append(cmd)
    return out


# ---------------------------------------------------------------------- minigpt control RUN_DIR CMD
def _events_from(path: Path, offset: int) -> tuple[list[dict], int]:
    """Complete event lines of events.jsonl after byte `offset`, and the offset after them."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            chunk = f.read()
    except OSError:
        return [], offset
    cut = chunk.rfind(b"\n") + 1
    out = []
    for line in chunk[:cut].splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out, offset + cut


def _paused(events_path: Path) -> bool:
    """Whether the run's current engine is paused, from the last hello / paused / resumed in its events."""
    state = False
    for ev in _events_from(events_path, 0)[0]:
        if ev.get("event") in ("hello", "resumed"):
            state = False
        elif ev.get("event") == "paused":
            state = True
    return state


def _acknowledges(cmd: str, ev: dict) -> bool:
    kind = ev.get("event")
    return (kind == "done" or (cmd == "pause" and kind == "paused") or (cmd == "resume" and kind == "resumed")
            or (cmd == "save" and kind == "checkpoint" and ev.get("reason") == "manual"))


def _describe(cmd: str, ev: dict) -> str:
    kind = ev.get("event")
    if kind == "done":
        summary = ev.get("summary") or {}
        return f"the run ended: {ev.get('status')} at step {summary.get('steps', '?')}"
    if kind == "checkpoint":
        return f"saved a checkpoint at step {ev.get('step')}: {ev.get('path')}"
    return f"{kind} at step {ev.get('step')}"


def control_run(run_dir: str | Path, cmd: str, wait_s: float = ACK_TIMEOUT_S, out=sys.stdout) -> int:
    """Send `cmd` to the engine that owns `run_dir` and wait for it to act. Returns the exit code."""
    from engine.run_lock import is_live
    run_dir = Path(run_dir).expanduser().resolve()
    events = run_dir / "events.jsonl"
    if not run_dir.is_dir():
        raise UserError(f"{run_dir} is not a folder", "pass a run folder (workspace/runs/<run-id>)", kind="input")
    if not events.is_file():
        raise UserError(f"{run_dir} is not a run folder (no events.jsonl)", "pass a run folder (workspace/runs/"
                        "<run-id>)", kind="input")
    if not is_live(run_dir):
        raise UserError(f"no live engine owns {run_dir}: the run has ended or was interrupted, so there is "
                        f"nothing to {cmd}", f"continue it with `minigpt train --resume {run_dir}`", kind="input")
    paused = _paused(events)
    if cmd == "pause" and paused:
        print(f"{run_dir.name}: already paused", file=out)
        return 0
    if cmd == "resume" and not paused:
        print(f"{run_dir.name}: not paused, nothing to resume", file=out)
        return 0
    offset = events.stat().st_size
    write_control_command(run_dir, cmd)
    print(f"{run_dir.name}: sent {cmd}; waiting for the engine", file=out, flush=True)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        gone = not is_live(run_dir)  # checked before reading, so a `done` written just before the exit is seen
        new, offset = _events_from(events, offset)
        for ev in new:
            if _acknowledges(cmd, ev):
                print(f"{run_dir.name}: {_describe(cmd, ev)}", file=out)
                return 0
        if gone:
            raise UserError(f"the engine of {run_dir} ended before it acted on {cmd}",
                            f"see the end of {events}", kind="input")
        time.sleep(0.1)
    raise UserError(f"the engine of {run_dir} did not act on {cmd} within {wait_s:.0f} s",
                    "it reads commands between steps: a long step, evaluation or checkpoint delays it; the command "
                    f"stays queued in {control_dir(run_dir)}", kind="timeout")


def main_control(args) -> int:
    """`minigpt control RUN_DIR CMD`: one clear message and exit code 2 for anything the user can fix."""
    from engine.cli import report_failure
    try:
        return control_run(args.run_dir, args.action, wait_s=args.wait)
    except UserError as e:
        return report_failure(e)
