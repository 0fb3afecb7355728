"""Self-describing checkpoints: model.safetensors + config.json + tokenizer.json + trainer_state.pt.

Saved into a temporary folder and renamed into place, so a crash mid-save leaves the previous checkpoint
intact. Weights load only through safetensors and trainer_state.pt only with weights_only=True: nothing a
user hands us is ever unpickled. `latest` and `best` are small text files naming a step folder.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, fields
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from engine import __version__, diskio
from engine.config import ConfigError, ModelConfig, build_section
from engine.diskio import human_bytes, resolve_path, writing
from engine.errors import UserError
from engine.model.lora import adapter_state_dict, has_lora, lora_meta
from engine.run_folder import (  # noqa: F401 - the layout's names are part of this module's API too
    CONFIG,
    STATE,
    TOKENIZER,
    WEIGHTS,
    clean_orphans,
    later_steps,
    missing_parts,
    newest_complete,
    read_pointer,
    step_dir_name,
    step_folders,
    step_number,
    write_pointer,
)

FORMAT_VERSION = 1


def save_checkpoint(ckpt_root: Path, step: int, model: torch.nn.Module, model_cfg: ModelConfig, tokenizer_json: str,
                    trainer_state: dict | None, meta: dict,
                    extra_weights: dict[str, dict[str, torch.Tensor]] | None = None,
                    weights: dict[str, torch.Tensor] | None = None, before_commit=None) -> Path:
    """Write checkpoints/step-NNNNNN atomically and durably, and point `latest` at it. Returns the folder.
    extra_weights: more safetensors files for the folder, {file name: state dict} (e.g. a reward model's head).
    weights: the model's full state dict when `model` holds only a shard of it (FSDP2, gathered by the caller);
    before_commit(tmp): writes more into the temporary folder before it is renamed (the sharded optimizer).

    Every file is fsynced before the folder is renamed into place, so a power cut cannot leave a step folder whose
    files are empty. A full disk is one UserError naming the checkpoint and the space left; the partial folder
    is removed.
    """
    final = ckpt_root / step_dir_name(step)
    tmp = ckpt_root / f".{final.name}.tmp-{os.getpid()}"
    # Tied weights share storage; safetensors stores each tensor once, so drop the alias and re-tie on load.
    weights = model.state_dict() if weights is None else weights
    state = {k: v.detach().to("cpu").contiguous() for k, v in weights.items()
             if not (model_cfg.tie_embeddings and k == "lm_head.weight")}
    if has_lora(model):  # a LoRA run saves only its adapters, and config.json names the base they belong to
        state, meta = adapter_state_dict(model), {**meta, "lora": lora_meta(model)}
    size = sum(t.numel() * t.element_size() for t in state.values())
    what = f"checkpoint {final.name} ({human_bytes(size)} of weights{' + optimizer state' if trainer_state else ''})"
    with writing(what, ckpt_root):
        ckpt_root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir()
            save_file(state, str(tmp / WEIGHTS), metadata={"format": "pt"})
            for name, tensors in (extra_weights or {}).items():
                save_file({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, str(tmp / name),
                          metadata={"format": "pt"})
            config = {"format_version": FORMAT_VERSION, "engine_version": __version__, "model": asdict(model_cfg),
                      "step": step, "saved_at": time.time(), **meta}
            (tmp / CONFIG).write_text(json.dumps(config, indent=1, ensure_ascii=False), encoding="utf-8")
            (tmp / TOKENIZER).write_text(tokenizer_json, encoding="utf-8")
            if trainer_state is not None:
                torch.save(trainer_state, tmp / STATE)
            if before_commit is not None:
                before_commit(tmp)
            for f in tmp.iterdir():
                diskio.fsync_file(f) if f.is_file() else diskio.fsync_dir(f)
            diskio.fsync_dir(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if final.exists():  # the same step saved twice (e.g. `save` then the final save): replace ours, never a user's
            old = ckpt_root / f".{final.name}.old-{os.getpid()}"
            final.rename(old)
            diskio.durable_rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            diskio.durable_rename(tmp, final)
        write_pointer(ckpt_root, "latest", final.name)
    return final


def resolve_checkpoint(path: str | Path) -> Path:
    """A step folder from: a step folder, a checkpoints/ folder, or a run folder (via `latest`, or the newest whole
    step folder when `latest` names nothing usable)."""
    p = resolve_path(path)
    if not p.exists():
        raise UserError(f"{p}: no such checkpoint or run folder", "pass a run folder or checkpoints/step-NNNNNN",
                        kind="checkpoint")
    if (p / CONFIG).is_file() and (p / WEIGHTS).is_file():
        return p
    for root in (p / "checkpoints", p):
        target = read_pointer(root, "latest")
        if target and not missing_parts(root / target, resumable=False):
            return root / target
        newest = newest_complete(root, resumable=False)
        if newest is not None:
            return newest
    raise UserError(f"{p}: no checkpoint here (expected {WEIGHTS} and {CONFIG}, or a run folder with "
                    "checkpoints/latest)", "point at a run folder or one of its checkpoints/step-NNNNNN folders",
                    kind="checkpoint")


def read_checkpoint_config(folder: Path) -> dict:
    try:
        meta = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
        return upgrade_checkpoint_config(meta)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{folder / CONFIG}: unreadable ({e})", "the checkpoint is damaged; use another step",
                        kind="checkpoint") from None
    except UserError as e:
        raise UserError(f"{folder / CONFIG}: {e.message}", e.hint, kind="checkpoint") from None


def upgrade_checkpoint_config(meta: dict) -> dict:
    """Patch older checkpoint metadata forward when the model config gains keys (explicitly, one version at a time)."""
    if not isinstance(meta, dict) or not isinstance(meta.get("model"), dict):
        raise UserError("config.json has no 'model' section", "the checkpoint's config.json is damaged",
                        kind="checkpoint")
    meta.setdefault("format_version", 1)
    if meta["format_version"] > FORMAT_VERSION:
        raise UserError(f"checkpoint format {meta['format_version']} is newer than this engine reads "
                        f"({FORMAT_VERSION})", "update MiniGPT Studio to load it", kind="checkpoint")
    known = {f.name for f in fields(ModelConfig)}
    unknown = sorted(k for k in meta["model"] if k not in known)
    if unknown:  # e.g. expert settings from a newer engine: dropping them would build the wrong model
        raise UserError(f"the model uses settings this engine does not know ({', '.join(unknown)})",
                        "update MiniGPT Studio to load it", kind="checkpoint")
    return meta


def model_config_of(folder: Path) -> ModelConfig:
    meta = read_checkpoint_config(folder)
    try:
        return build_section("model", meta["model"], str(folder / CONFIG))
    except ConfigError as e:
        raise UserError(f"{folder / CONFIG}: {e.message}", "the checkpoint's config.json was edited or damaged",
                        kind="checkpoint") from None


def read_weights(folder: Path) -> dict[str, torch.Tensor]:
    """model.safetensors as tensors, refusing a damaged file and weights that are not finite (NaN or inf).
    A LoRA adapter checkpoint gives its base's weights with the adapters merged in (engine/lora_checkpoint.py)."""
    from engine import lora_checkpoint
    if lora_checkpoint.is_adapter_folder(folder):
        return lora_checkpoint.merged_weights(folder)
    return read_tensors(folder / WEIGHTS)


def check_weights_file(folder: Path) -> None:
    """Read only model.safetensors' header (milliseconds), so a truncated or foreign file is refused before the
    data is prepared rather than minutes later; read_tensors still checks every value when the weights load."""
    from engine import lora_checkpoint
    if lora_checkpoint.is_adapter_folder(folder):
        return
    try:
        with safe_open(str(folder / WEIGHTS), framework="pt"):
            pass
    except (SafetensorError, OSError, ValueError) as e:
        raise _unreadable(folder / WEIGHTS, e) from None


def _unreadable(file: Path, e: Exception) -> UserError:
    return UserError(f"{file}: cannot read weights ({e})", "the file is truncated or not safetensors; use an "
                     f"earlier step folder beside it in {file.parent.parent} (e.g. --resume or --init with that "
                     "step-NNNNNN folder)", kind="checkpoint")


def read_tensors(file: Path) -> dict[str, torch.Tensor]:
    """One safetensors file of a checkpoint, refusing a damaged file and tensors that are not finite."""
    try:
        state = load_file(str(file))
    except (SafetensorError, OSError, ValueError) as e:
        raise _unreadable(file, e) from None
    for name, t in state.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise UserError(f"{file}: tensor {name} holds {bad:,} non-finite values (NaN or inf)",
                            "the run had diverged when this was saved; use an earlier checkpoint, or train again with "
                            "a lower optim.lr", kind="checkpoint")
    return state


def load_weights(model: torch.nn.Module, folder: Path) -> None:
    """Load model.safetensors strictly: a truncated file, a shape mismatch or a NaN is a clear UserError."""
    file = folder / WEIGHTS
    state = read_weights(folder)
    if getattr(model, "cfg", None) is not None and model.cfg.tie_embeddings:
        head, embed = state.get("lm_head.weight"), state.get("embed.weight")
        if head is not None and embed is not None and not torch.equal(head, embed):
            raise UserError(f"{file}: weights do not match config.json (a separate lm_head.weight, but the config "
                            "ties it to the embedding)", "the weights and config.json come from different models",
                            kind="checkpoint")
        state["lm_head.weight"] = embed
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}" for k, v in expected.items()
             if k in state and state[k] is not None and tuple(state[k].shape) != tuple(v.shape)]
    if missing or unexpected or wrong:
        detail = "; ".join(([f"missing {missing[:3]}"] if missing else []) + ([f"unexpected {unexpected[:3]}"]
                           if unexpected else []) + wrong[:3])
        raise UserError(f"{file}: weights do not match config.json ({detail})",
                        "the weights and config.json come from different models", kind="checkpoint")
    model.load_state_dict(state, strict=True)


def load_trainer_state(folder: Path) -> dict:
    file = folder / STATE
    if not file.is_file():
        raise UserError(f"{folder}: no {STATE}, so this checkpoint cannot be resumed",
                        "use it with --init to start a new run from its weights instead", kind="checkpoint")
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for damaged or hostile files
        raise UserError(f"{file}: cannot read trainer state ({type(e).__name__})",
                        "the file is damaged; resume from an earlier step", kind="checkpoint") from None


def remove_step(folder: Path) -> None:
    """Delete one step folder of ours (renamed first, so a crash never leaves half a checkpoint under its name)."""
    if folder.is_dir() and folder.name.startswith("step-"):
        doomed = folder.with_name(f".{folder.name}.del-{os.getpid()}")
        folder.rename(doomed)
        shutil.rmtree(doomed, ignore_errors=True)


def prune_checkpoints(ckpt_root: Path, keep_last: int) -> None:
    """Delete the oldest periodic step folders beyond `keep_last`; never the ones `latest` or `best` name."""
    if keep_last <= 0:
        return
    protected = {read_pointer(ckpt_root, n) for n in ("latest", "best")}
    steps = step_folders(ckpt_root)
    for old in steps[:-keep_last]:
        if old.name not in protected:
            remove_step(old)
