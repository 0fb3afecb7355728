"""The paths of a run config, checked before launch as the engine would read them: data and validation files,
the tokenizer, and the checkpoint a stage starts from. A handful of stat calls, so the Review page can run it
as you type; it names the key at fault and the path. No widgets, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.config import Config

WEIGHTS, META = "model.safetensors", "config.json"


@dataclass
class PathProblem:
    key: str
    message: str
    hint: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message} — {self.hint}"


def _where(raw: str, base: Path | None) -> Path:
    p = Path(raw).expanduser()
    return p if p.is_absolute() or base is None else base / p


def _relative_hint(raw: str, base: Path | None) -> str:
    if base is not None and not Path(raw).expanduser().is_absolute():
        return f"; a relative path is read from the config's folder {base}, so an absolute path is safer"
    return ""


def is_checkpoint_source(p: Path) -> bool:
    """A step folder, a checkpoints/ folder or a run folder whose `latest` names a step (as the engine resolves)."""
    if (p / WEIGHTS).is_file() and (p / META).is_file():
        return True
    for root in (p / "checkpoints", p):
        pointer = root / "latest"
        try:
            target = root / pointer.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if (target / WEIGHTS).is_file():
            return True
    return False


def path_problem(cfg: Config, base: Path | None = None) -> PathProblem | None:
    """The first path in `cfg` the engine could not use, or None. `base`: where relative paths are read from."""
    for key in ("data.train", "data.val"):
        for raw in getattr(cfg.data, key.split(".")[1]):
            if raw == "builtin":
                continue
            p = _where(raw, base)
            if p.is_dir():
                return PathProblem(key, f"{p} is a folder, not a data file",
                                   "list the .jsonl or .txt files inside it one by one")
            if not p.is_file():
                return PathProblem(key, f"{p} does not exist",
                                   "fix the path, or remove the file on the Data page" + _relative_hint(raw, base))
    if cfg.tokenizer.path:
        p = _where(cfg.tokenizer.path, base)
        file = p / "tokenizer.json" if p.is_dir() else p
        if not file.is_file():
            what = "has no tokenizer.json" if p.is_dir() else "does not exist"
            return PathProblem("tokenizer.path", f"{p} {what}",
                               "point at a folder with tokenizer.json, or leave it empty to train one"
                               + _relative_hint(cfg.tokenizer.path, base))
    if cfg.stage.init:
        p = _where(cfg.stage.init, base)
        if not p.exists():
            return PathProblem("stage.init", f"{p} does not exist",
                               "pick a run folder or a checkpoints/step-NNNNNN folder" + _relative_hint(cfg.stage.init,
                                                                                                        base))
        if not is_checkpoint_source(p):
            return PathProblem("stage.init", f"{p} holds no checkpoint ({WEIGHTS} and {META}, or checkpoints/latest)",
                               "pick a run folder that saved a checkpoint, or one of its step folders")
    return None
