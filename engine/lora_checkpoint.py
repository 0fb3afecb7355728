"""LoRA and checkpoints: an adapter checkpoint, the base it names, load-time merging, and `minigpt lora merge`.

A LoRA run's step folder is an ordinary one (config.json, tokenizer.json, trainer_state.pt) whose model.safetensors
holds only the adapters (`<layer>.lora_A`, `<layer>.lora_B`). Its config.json `lora` section gives rank, alpha,
dropout, targets and the base: the step folder the frozen weights came from, with the sha256 of that folder's
model.safetensors, so a base that was retrained or replaced is detected instead of silently merged.
engine/checkpoint.py's read_weights merges such a folder on the fly, so chat, eval, serve, generate and export
take an adapter checkpoint as they take a full one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from engine import checkpoint as ckpt
from engine import diskio
from engine.config import Config
from engine.diskio import resolve_path
from engine.errors import UserError
from engine.events import EventSink
from engine.model.lora import ADAPTER_SUFFIXES, adapter_state_dict, apply_lora, merge_into, trainable_count
from engine.tokenizer import SPECIAL_TOKENS, Tokenizer

FREQUENT_SCAN = 50_000_000  # tokens counted for lora.train_frequent_tokens: a big corpus is judged by its start
_merging: set[Path] = set()   # folders being merged right now: a base chain that loops is refused, not followed


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def base_identity(folder: Path) -> dict:
    """What an adapter checkpoint records of its base: the step folder and its weights' sha256."""
    meta = ckpt.read_checkpoint_config(folder)
    return {"path": str(folder.resolve()), "sha256": file_sha256(folder / ckpt.WEIGHTS), "step": meta.get("step"),
            "stage": meta.get("stage")}


def is_adapter_folder(folder: Path) -> bool:
    """Whether config.json has a lora section; a folder without a readable config.json is left to the caller's
    own checks (and their messages)."""
    if not (folder / ckpt.CONFIG).is_file():
        return False
    try:
        return adapter_info(ckpt.read_checkpoint_config(folder)) is not None
    except UserError as e:
        if "lora section" in e.message:
            raise  # a damaged lora section: say so rather than read adapters as full weights
        return False


def adapter_info(meta: dict) -> dict | None:
    """The `lora` section of a checkpoint's config.json, or None for a full checkpoint."""
    info = meta.get("lora")
    if not info:
        return None
    if not (isinstance(info, dict) and isinstance(info.get("base"), dict) and info.get("rank")
            and isinstance(info.get("alpha"), (int, float))):
        raise UserError("config.json: the lora section is damaged (it needs rank, alpha and base)",
                        "the checkpoint's config.json was edited; use another step", kind="checkpoint")
    return info


def find_base(folder: Path, info: dict) -> Path:
    """The base step folder an adapter checkpoint names, checked against the sha256 it recorded."""
    base = info["base"]
    path = Path(str(base.get("path", "")))
    if not (path / ckpt.WEIGHTS).is_file():
        raise UserError(f"{folder}: the base checkpoint these LoRA adapters were trained on, {path}, is gone",
                        "restore that folder (adapters only work with the exact weights they were trained on), or "
                        "run `minigpt lora merge` where it still exists to get a self-contained checkpoint",
                        kind="checkpoint")
    digest = file_sha256(path / ckpt.WEIGHTS)
    if digest != base.get("sha256"):
        raise UserError(f"{folder}: the base checkpoint {path} is not the one these LoRA adapters were trained on "
                        f"(its weights' sha256 is {digest[:12]}..., the adapters name "
                        f"{str(base.get('sha256'))[:12]}...)",
                        "the base was retrained or replaced; restore the original base checkpoint", kind="checkpoint")
    return path


def read_adapters(folder: Path) -> dict[str, torch.Tensor]:
    state = ckpt.read_tensors(folder / ckpt.WEIGHTS)
    bad = [k for k in state if not k.endswith(ADAPTER_SUFFIXES)]
    if bad:
        raise UserError(f"{folder / ckpt.WEIGHTS}: config.json says LoRA adapters, but the file holds {bad[0]}",
                        "the weights and config.json come from different checkpoints", kind="checkpoint")
    return state


def merged_weights(folder: Path) -> dict[str, torch.Tensor]:
    """The full weights of an adapter checkpoint: its base's (itself merged, if it is an adapter checkpoint too)
    plus (alpha / r) B A on every adapted layer."""
    folder = folder.resolve()
    if folder in _merging:
        raise UserError(f"{folder}: the chain of LoRA base checkpoints loops back to this folder",
                        "the config.json files were edited; point lora.base at a full checkpoint", kind="checkpoint")
    info = adapter_info(ckpt.read_checkpoint_config(folder))
    _merging.add(folder)
    try:
        base_state = ckpt.read_weights(find_base(folder, info))
    finally:
        _merging.discard(folder)
    adapters = read_adapters(folder)
    try:
        return merge_into(base_state, adapters, info["alpha"] / info["rank"])
    except KeyError as e:
        raise UserError(f"{folder}: adapter {e.args[0]} has no partner in the base {info['base']['path']}",
                        "the adapters and the base come from different models", kind="checkpoint") from None
    except RuntimeError as e:  # shapes that do not multiply or add up
        raise UserError(f"{folder}: the adapters do not fit the base's weights ({e})",
                        "the adapters and the base come from different models", kind="checkpoint") from None


# ---------------------------------------------------------------- a LoRA run's model

def special_token_ids(tok: Tokenizer) -> list[int]:
    """The ids of the tokenizer's special tokens (chat template, end of text, padding, reserved) that it has."""
    return sorted(i for i in (tok.hf.token_to_id(t) for t in SPECIAL_TOKENS) if i is not None)


def frequent_token_ids(tokens: np.ndarray, k: int, skip: list[int], vocab_size: int) -> list[int]:
    """The k most frequent ids among the first FREQUENT_SCAN tokens (ties: the lower id), less `skip`."""
    if k <= 0 or len(tokens) == 0:
        return []
    counts = np.bincount(np.asarray(tokens[:FREQUENT_SCAN], dtype=np.int64), minlength=vocab_size)[:vocab_size]
    counts[skip] = 0
    order = np.argsort(-counts, kind="stable")[:k]
    return sorted(int(i) for i in order if counts[i] > 0)


def token_rows_for(cfg: Config, tok: Tokenizer | None, tokens: np.ndarray | None, vocab_size: int) -> list[int]:
    """The token ids whose embedding rows train: special (lora.train_special_tokens) and frequent
    (lora.train_frequent_tokens, counted in the training data's tokens)."""
    special = special_token_ids(tok) if tok is not None and cfg.lora.train_special_tokens else []
    frequent = (frequent_token_ids(tokens, cfg.lora.train_frequent_tokens, special_token_ids(tok) if tok else [],
                                   vocab_size) if tokens is not None else [])
    return sorted(set(special) | set(frequent))


def prepare_lora_model(model: torch.nn.Module, cfg: Config, origin: Path | None, resume_dir: Path | None,
                       sink: EventSink, tok: Tokenizer | None = None, tokens: np.ndarray | None = None) -> None:
    """Base weights from stage.init (merged, if it is itself an adapter checkpoint), adapters on cfg.lora.targets
    and trainable embedding rows for `tok`'s special tokens and the most frequent of the training `tokens`; on
    resume the adapters (and row ids) the step folder saved. Only the adapters are left trainable."""
    if origin is None:
        raise UserError("lora.rank > 0 trains adapters on the base checkpoint stage.init, which is not set or no "
                        "longer readable", "set stage.init (--init) to the base checkpoint; on resume, restore it",
                        kind="config")
    ckpt.load_weights(model, origin)
    identity = base_identity(origin)
    saved = read_adapters(resume_dir) if resume_dir is not None else {}
    if "embed.token_ids" in saved:  # the rows the run chose at its start, whatever the data holds now
        rows = saved["embed.token_ids"].tolist()
    else:
        rows = token_rows_for(cfg, tok, tokens, model.embed.num_embeddings)
    layers = apply_lora(model, cfg.lora, base=identity, token_ids=rows)
    if resume_dir is not None:
        info = adapter_info(ckpt.read_checkpoint_config(resume_dir))
        if info is None:
            raise UserError(f"{resume_dir} holds full weights, but this run trains LoRA adapters",
                            "resume the run that wrote it with its own config", kind="checkpoint")
        if info["base"].get("sha256") != identity["sha256"]:
            raise UserError(f"{resume_dir}: its adapters were trained on another base than {origin} (the weights' "
                            "sha256 differs)", "restore the base checkpoint the run started from", kind="checkpoint")
        expected = adapter_state_dict(model)
        if set(saved) != set(expected) or any(saved[k].shape != expected[k].shape for k in saved) or any(
                not torch.equal(saved[k], expected[k]) for k in saved if k.endswith(".token_ids")):
            raise UserError(f"{resume_dir}: its adapters do not match lora.rank / lora.targets / lora.dora / "
                            "lora.train_special_tokens / lora.train_frequent_tokens of this run",
                            "resume with the run's own settings", kind="checkpoint")
        model.load_state_dict(saved, strict=False)
    trainable, total = trainable_count(model)
    rows = len(model.lora_info["token_ids"])
    kind = "DoRA" if cfg.lora.dora else "adapters"
    sink.log(f"lora: rank {cfg.lora.rank} {kind} (alpha {cfg.lora.alpha:g}) on {len(layers)} layers "
             f"({', '.join(cfg.lora.targets)})" + (f" and the embedding rows of {rows} tokens" if rows else "")
             + f" of base {origin}; {trainable:,} of {total:,} parameters train "
             f"({100 * trainable / total:.2f}%)")


# ---------------------------------------------------------------- minigpt lora merge

def merge_checkpoint(adapter: str | Path, out: str | Path) -> Path:
    """Write a full, self-contained checkpoint folder at `out` (new or empty): the merged weights, the adapter
    checkpoint's config.json (its `lora` section replaced by `merged_from`) and tokenizer, no trainer state."""
    folder = ckpt.resolve_checkpoint(adapter)
    meta = ckpt.read_checkpoint_config(folder)
    info = adapter_info(meta)
    if info is None:
        raise UserError(f"{folder} is not a LoRA adapter checkpoint (its config.json has no lora section)",
                        "it already holds full weights: use it as it is", kind="checkpoint")
    out = resolve_path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} already exists and is not empty", "choose a new --out folder", kind="output")
    state = merged_weights(folder)
    meta = {k: v for k, v in meta.items() if k != "lora"}
    meta["merged_from"] = {"adapter": str(folder), "rank": info["rank"], "alpha": info["alpha"],
                           "targets": info.get("targets"), "base": info["base"]}
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    with diskio.writing(f"the merged checkpoint {out}", out.parent):
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            from safetensors.torch import save_file
            save_file({k: v.contiguous() for k, v in state.items()}, str(tmp / ckpt.WEIGHTS),
                      metadata={"format": "pt"})
            (tmp / ckpt.CONFIG).write_text(json.dumps(meta, indent=1, ensure_ascii=False), encoding="utf-8")
            for f in folder.iterdir():  # the tokenizer and any stage files (a reward head), never the trainer state
                if f.is_file() and f.name not in (ckpt.WEIGHTS, ckpt.CONFIG, ckpt.STATE):
                    shutil.copyfile(f, tmp / f.name)
            for f in tmp.iterdir():
                diskio.fsync_file(f)
            if out.exists():
                out.rmdir()  # empty (checked above)
            diskio.durable_rename(tmp, out)
        finally:
            with contextlib.suppress(OSError):
                shutil.rmtree(tmp, ignore_errors=True)
    return out
