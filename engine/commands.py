"""Commands from the studio (JSON lines on stdin), from the run folder's control channel (engine/control.py)
and from signals, queued for the training loop.

The loop polls between steps and while paused; nothing here touches the model. Ctrl-C and SIGTERM ask for a
clean stop (save, then exit); a second Ctrl-C aborts at once.
"""

from __future__ import annotations

import queue
import signal
import sys
import threading
import time
from pathlib import Path
from typing import IO

from engine.protocol import ProtocolError, parse_command


class CommandQueue:
    def __init__(self, on_bad_line=None):
        self._q: queue.Queue[dict] = queue.Queue()
        self._on_bad_line = on_bad_line
        self._interrupts = 0

    def put(self, cmd: str, **data) -> None:
        self._q.put({"cmd": cmd, **data})

    def poll(self) -> list[dict]:
        """The commands waiting now, up to and including the first `pause`: what follows a pause (resume, save,
        stop) stays queued for the pause's own wait, instead of being drained here and lost while paused."""
        out = []
        while not out or out[-1].get("cmd") != "pause":
            try:
                out.append(self._q.get_nowait())
            except queue.Empty:
                break
        return out

    def wait(self, timeout: float) -> dict | None:
        try:
            return self._q.get(timeout=timeout)
        except queue.Empty:
            return None

    def read_stream(self, stream: IO[str] = sys.stdin, stop_at_eof: bool = False) -> threading.Thread:
        """Read commands from `stream` in a daemon thread until it closes (then queue `stop` if asked)."""
        def reader():
            for line in stream:
                if not line.strip():
                    continue
                try:
                    self._q.put(parse_command(line))
                except ProtocolError as e:
                    if self._on_bad_line:
                        self._on_bad_line(str(e))
            if stop_at_eof:
                self.put("stop")
        t = threading.Thread(target=reader, name="command-reader", daemon=True)
        t.start()
        return t

    def watch_folder(self, folder: Path, interval_s: float = 0.25) -> threading.Thread:
        """Queue the command files dropped into `folder` (a run's control channel), polled in a daemon thread.

        Files already there were meant for an engine that is gone; they are dropped, not applied to this one.
        """
        from engine.control import take_commands
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        stale = take_commands(folder)
        if stale and self._on_bad_line:
            self._on_bad_line(f"ignored {len(stale)} command(s) left in {folder} from an earlier engine")

        def poller():
            while True:
                for cmd in take_commands(folder, self._on_bad_line):
                    self._q.put(cmd)
                time.sleep(interval_s)
        t = threading.Thread(target=poller, name="control-folder", daemon=True)
        t.start()
        return t

    def install_signal_handlers(self) -> None:
        def on_signal(signum, frame):
            self._interrupts += 1
            if signum == signal.SIGINT and self._interrupts > 1:
                raise KeyboardInterrupt
            self.put("stop")
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, on_signal)
            signal.signal(signal.SIGTERM, on_signal)
