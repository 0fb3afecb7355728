"""Preference pairs captured in A/B chat, appended to `<workspace>/data/preferences/ab-YYYYMMDD.jsonl`.

Each line is what the DPO stage reads — `prompt` (a string, or the messages of a longer chat ending with the user's
turn), `chosen` and `rejected` as strings — plus what makes the pair traceable: the conversation (`messages`),
which checkpoint and sampling produced each side, and `tie` (kept for the record but marked, so DPO skips it).
Plain Python: no Qt, no widgets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

PREFERENCES_DIR = Path("data") / "preferences"
WINNERS = ("a", "b", "tie")


@dataclass
class Side:
    """One side of a comparison: what produced the reply, and the reply."""

    checkpoint: str
    params: dict
    reply: str
    stats: dict = field(default_factory=dict)

    def source(self) -> dict:
        return {"checkpoint": self.checkpoint, "params": self.params, "stats": self.stats}


def preference_record(messages: list[dict], a: Side, b: Side, winner: str, when: datetime | None = None) -> dict:
    """The line for one choice. `messages` is the conversation the two replies answer, ending with the user turn."""
    if winner not in WINNERS:
        raise ValueError(f"winner must be one of {', '.join(WINNERS)}, not {winner!r}")
    if not messages or messages[-1].get("role") != "user":
        raise ValueError("the conversation must end with the user turn both replies answer")
    chosen, rejected = (b, a) if winner == "b" else (a, b)   # a tie keeps A first; `tie` tells DPO to skip it
    turns = [{"role": m["role"], "content": m["content"]} for m in messages]
    # one user turn stays a plain string; a longer chat is kept whole, as the messages the replies answered
    prompt = turns[0]["content"] if len(turns) == 1 else turns
    return {
        "prompt": prompt,
        "chosen": chosen.reply,
        "rejected": rejected.reply,
        "tie": winner == "tie",
        "winner": winner,
        "messages": turns,
        "chosen_source": chosen.source(),
        "rejected_source": rejected.source(),
        "a": a.source(),
        "b": b.source(),
        "time": (when or datetime.now(UTC)).isoformat(timespec="seconds"),
    }


def preference_file(workspace: str | Path, when: datetime | None = None) -> Path:
    """Today's file (UTC date, like run ids): one file per day keeps files small and easy to pick."""
    day = (when or datetime.now(UTC)).strftime("%Y%m%d")
    return Path(workspace) / PREFERENCES_DIR / f"ab-{day}.jsonl"


def append_preference(workspace: str | Path, record: dict) -> Path:
    """Append one record (never rewrites what is there). A single short line: cheap enough for the UI thread."""
    when = datetime.fromisoformat(record["time"]) if record.get("time") else None
    path = preference_file(workspace, when)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def list_preference_files(workspace: str | Path) -> list[Path]:
    """The workspace's preference files, newest name first (a directory listing: no file is read)."""
    folder = Path(workspace) / PREFERENCES_DIR
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.glob("*.jsonl") if p.is_file()), key=lambda p: p.name, reverse=True)
