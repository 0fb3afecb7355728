"""Which model shapes this workspace has compiled before, so `hardware.compile: auto` knows when a compile is cheap.

torch.compile keeps what it built on disk (inductor's FX graph and AOT autograd caches); the engine points those at
`<workspace>/compile/inductor/` (unless TORCHINDUCTOR_CACHE_DIR is set) and, after a compile succeeds, records its key
and how long it took in `<workspace>/compile/records.json`. A record whose cache folder still holds the graphs means
the next compile of that shape mostly reads them back. No torch here: the studio's Hardware page reads it too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import os
from pathlib import Path

from filelock import FileLock

from engine.diskio import atomic_write_text

FOLDER = "compile"
RECORDS = "records.json"
CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"
_MODEL_SOURCES = ("gpt.py", "moe.py", "chunked_attention.py", "lora.py", "apply.py")


def cache_dir(workspace: Path) -> Path:
    """Where inductor keeps its caches for this workspace's runs: the user's TORCHINDUCTOR_CACHE_DIR, else ours."""
    return Path(os.environ.get(CACHE_ENV) or Path(workspace) / FOLDER / "inductor")


def use_workspace_cache(workspace: Path) -> Path:
    """Point inductor at cache_dir(workspace) before anything compiles (a user's own setting is kept)."""
    folder = cache_dir(workspace)
    os.environ[CACHE_ENV] = str(folder)
    return folder


def compile_key(cfg, precision: str, vocab_size: int | None = None) -> str:
    """What decides the compiled graphs and whether a cached one still fits: the model's shape, the step's micro-batch
    and sequence length, stage, LoRA, checkpointing, the precision the run uses, threads (inductor's C++ kernels are
    built for a thread count), this CPU, the torch version and our model code."""
    model = dataclasses.asdict(cfg.model) | {"vocab_size": vocab_size or cfg.model.vocab_size
                                             or cfg.tokenizer.vocab_size}
    facts = {
        "model": model, "seq_len": cfg.data.seq_len, "batch": cfg.run.batch_size, "stage": cfg.stage.name,
        "lora": [cfg.lora.rank, sorted(cfg.lora.targets)] if cfg.lora.rank else None,
        "grad_checkpointing": cfg.hardware.grad_checkpointing, "precision": precision,
        "threads": cfg.hardware.threads or os.cpu_count(), "cpu": _cpu_name(), "torch": _torch_version(),
        "code": _model_code_hash(),
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def warm_record(workspace: Path, key: str) -> dict | None:
    """This shape's record when it compiled here before and the cache still holds graphs; else None."""
    record = _read(workspace).get(key)
    if not record:
        return None
    folder = Path(record.get("cache_dir", ""))
    has_graphs = (folder / "fxgraph").is_dir() and any((folder / "fxgraph").iterdir())
    return record if has_graphs else None


def remember(workspace: Path, key: str, seconds: float, what: str) -> None:
    """Record a successful compile of `key` that took `seconds` (the first one is kept as the cold figure).

    Read, change and write happen under a file lock: two runs of one workspace finishing their compiles at the same
    moment would otherwise each write the file back without the other's record."""
    path = Path(workspace) / FOLDER / RECORDS
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path.with_suffix(".lock")), timeout=30):
        records = _read(workspace)
        old = records.get(key, {})
        records[key] = {"what": what, "cache_dir": str(cache_dir(workspace)),
                        "first_seconds": old.get("first_seconds", round(seconds, 1)),
                        "last_seconds": round(seconds, 1), "compiles": old.get("compiles", 0) + 1}
        atomic_write_text(path, json.dumps(records, indent=1, sort_keys=True))


def _read(workspace: Path) -> dict:
    try:
        data = json.loads((Path(workspace) / FOLDER / RECORDS).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # none yet, or damaged: nothing is known, so auto judges a cold compile
        return {}
    return data if isinstance(data, dict) else {}


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown")
    except OSError:
        return "unknown"


def _torch_version() -> str:
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _model_code_hash() -> str:
    """Our model's code as it is now: a change to it invalidates a cached graph, and so the record."""
    folder = Path(__file__).resolve().parent / "model"
    digest = hashlib.sha256()
    for name in _MODEL_SOURCES:
        try:
            digest.update((folder / name).read_bytes())
        except OSError:
            digest.update(name.encode())
    return digest.hexdigest()[:16]
