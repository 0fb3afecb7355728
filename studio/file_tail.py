"""FileTail: the complete lines appended to a file since the last read, for following a growing file (a run's
events.jsonl, an engine's stderr log). Pure Python, no Qt.

The position only ever moves past a newline, so a line the writer has not finished is read whole on a later call,
and a reader that first loads the file and then follows it starts exactly where the load stopped: no line is
seen twice or skipped (the old copy took the file size and read the file in two separate steps).
"""

from __future__ import annotations

from pathlib import Path

from engine.protocol import Event, ProtocolError, parse_event

CHUNK_BYTES = 4 << 20


class FileTail:
    def __init__(self, path: str | Path, pos: int = 0):
        self.path = Path(path)
        self.pos = pos

    def read_lines(self, max_bytes: int = CHUNK_BYTES) -> list[bytes]:
        """Complete lines (without their newline) after `pos`, at most about `max_bytes` of them."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                chunk = f.read(max_bytes)
        except OSError:
            return []
        cut = chunk.rfind(b"\n") + 1
        if cut == 0:
            if len(chunk) < max_bytes:
                return []  # an unfinished line: read it whole next time
            self.pos += len(chunk)  # one line longer than a chunk: pass it on in pieces rather than stall
            return [chunk]
        self.pos += cut
        return [ln.rstrip(b"\r") for ln in chunk[:cut - 1].split(b"\n")]

    def read_all_lines(self) -> list[bytes]:
        """Every complete line up to the current end of the file."""
        out: list[bytes] = []
        while True:
            lines = self.read_lines()
            if not lines:
                return out
            out += lines

    def read_events(self, everything: bool = False) -> list[Event]:
        """The protocol events among the new lines; a line that is not one (a torn write) is skipped."""
        lines = self.read_all_lines() if everything else self.read_lines()
        events = []
        for raw in lines:
            try:
                events.append(parse_event(raw.decode("utf-8", errors="replace")))
            except ProtocolError:
                continue
        return events
