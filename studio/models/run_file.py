"""A saved run YAML read back for the wizard (File → Open run config…): parsed with the engine's reader, paths
made absolute from the file's folder (as `minigpt train FILE` reads them), and validated, so a bad file is
refused with a message naming the file, the line or the key. No widgets, no torch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from engine.config import UserError, read_yaml
from studio.models.run_document import check_document


def absolute_paths(doc: dict[str, Any], base: Path) -> dict[str, Any]:
    """data.train/val, tokenizer.path and stage.init relative to `base` made absolute (a new document)."""
    def fix(p: Any) -> Any:
        if not isinstance(p, str) or not p or p == "builtin":
            return p
        p = os.path.expanduser(p)
        return p if os.path.isabs(p) else str((base / p).resolve())

    out = {k: dict(v) if isinstance(v, dict) else v for k, v in doc.items()}
    data = out.get("data")
    if isinstance(data, dict):
        for key in ("train", "val"):
            if isinstance(data.get(key), str):
                data[key] = [data[key]]
            if isinstance(data.get(key), list):
                data[key] = [fix(p) for p in data[key]]
    for section, key in (("tokenizer", "path"), ("stage", "init")):
        if isinstance(out.get(section), dict) and out[section].get(key):
            out[section][key] = fix(out[section][key])
    return out


def load_run_file(path: str | Path) -> tuple[dict | None, str]:
    """(document, "") or (None, a message naming the file and the line or key at fault, with a hint)."""
    path = Path(path)
    try:
        doc = read_yaml(path, "run config")
    except UserError as e:
        return None, e.message + (f" — {e.hint}" if e.hint else "")
    doc = absolute_paths(doc, path.resolve().parent)
    check = check_document(doc)
    if not check.ok:
        return None, f"{path}: {check.message}" + (f" — {check.hint}" if check.hint else "")
    return doc, ""
