"""Saved chats: `<workspace>/chats/<UTC time>-<slug>.jsonl`, a header line then one message per line.

Header: {"chat": 1, "checkpoint", "system", "params", "saved"}; messages: {"role", "content", "stats"?, "status"?}.
Reading reports a bad line by file and line number. Plain Python: no Qt, no widgets.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

CHATS_DIR = "chats"
ROLES = ("system", "user", "assistant")


class ChatFileError(ValueError):
    """A saved chat that cannot be read back; the message names the file and line."""


def chats_dir(workspace: str | Path) -> Path:
    return Path(workspace) / CHATS_DIR


def save_chat(workspace: str | Path, messages: list[dict], meta: dict, when: datetime | None = None) -> Path:
    """Write a new file (never overwrites one: a clash gets a numbered name). Returns its path."""
    when = when or datetime.now(UTC)
    first = next((m["content"] for m in messages if m.get("role") == "user"), "chat")
    slug = re.sub(r"[^\w]+", "-", first.lower(), flags=re.UNICODE).strip("-")[:32] or "chat"
    folder = chats_dir(workspace)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{when.strftime('%Y%m%d-%H%M%S')}-{slug}"
    path, n = folder / f"{stem}.jsonl", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.jsonl"
    lines = [{"chat": 1, **meta, "saved": when.isoformat(timespec="seconds")}]
    lines += [{k: m[k] for k in ("role", "content", "stats", "status") if k in m} for m in messages]
    with open(path, "x", encoding="utf-8") as f:
        f.writelines(json.dumps(obj, ensure_ascii=False) + "\n" for obj in lines)
    return path


def load_chat(path: str | Path) -> tuple[dict, list[dict]]:
    """(header, messages) of a saved chat. Raises ChatFileError naming the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ChatFileError(f"{path}: cannot be read ({e})") from None
    header: dict = {}
    messages: list[dict] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise ChatFileError(f"{path.name}, line {n}: not JSON ({e.msg}); a saved chat has one JSON object "
                                "per line") from None
        if not isinstance(obj, dict):
            raise ChatFileError(f"{path.name}, line {n}: expected a JSON object")
        if n == 1 and "chat" in obj:
            header = obj
            continue
        if obj.get("role") not in ROLES or not isinstance(obj.get("content"), str):
            raise ChatFileError(f"{path.name}, line {n}: a message needs a role ({', '.join(ROLES)}) and a "
                                "text content")
        messages.append(obj)
    return header, messages
