"""Checkpoints of a run trained in several processes, in the same self-describing step folder as any other.

DDP: every rank holds the whole model and optimizer, so rank 0 saves alone, exactly as one process would. FSDP2:
the weights are gathered to rank 0 and written as the usual full model.safetensors (so chat, eval and export never
know how a run was trained), and the sharded optimizer goes beside it through torch.distributed.checkpoint into
`optimizer/`, which any number of processes (or one, without a process group) loads back, resharded.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import torch
import torch.distributed as dist

from engine import checkpoint as ckpt
from engine.optim import load_optimizer_state
from engine.train import distributed

OPTIMIZER_DIR = "optimizer"


# torch.distributed.checkpoint and FSDP are imported only where a sharded model needs them: importing them costs
# about a second of CPU, a third of every engine start, and a single-process run never uses them.
def is_sharded(model: torch.nn.Module) -> bool:
    if "torch.distributed.fsdp" not in sys.modules:   # nothing was ever sharded in this process
        return False
    from torch.distributed.fsdp import FSDPModule
    return isinstance(model, FSDPModule)


def plain(model: torch.nn.Module) -> torch.nn.Module:
    """The module under a DDP wrapper (FSDP2 changes the model in place, so it is its own)."""
    return getattr(model, "module", model)


def save(trainer, root: Path, meta: dict, stage_files: dict) -> Path:
    """Save the trainer's step on every rank together; returns the step folder (written by rank 0)."""
    model, rt = trainer.model, trainer.rt
    if not is_sharded(model):
        folder = root / ckpt.step_dir_name(trainer.step)
        if rt.rank == 0:
            folder = ckpt.save_checkpoint(root, trainer.step, plain(model), trainer.cfg.model, trainer.p.tok.to_json(),
                                          trainer.trainer_state(), meta, stage_files)
        distributed.barrier()  # a resume, a `save` acknowledgement or the next prune sees it whole on every rank
        return folder
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict, get_optimizer_state_dict

    # Collective: rank 0 receives the full weights on the CPU, the others an empty dict.
    weights = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    optim = get_optimizer_state_dict(model, trainer.optimizer)

    def write_shards(tmp: Path | None) -> None:
        tmp = distributed.broadcast(tmp)  # rank 0 names its temporary step folder; every rank writes its shards there
        dcp.save({"optimizer": optim}, checkpoint_id=str(tmp / OPTIMIZER_DIR))
        distributed.barrier()

    if rt.rank == 0:
        state = trainer.trainer_state(with_optimizer=False)
        state["optimizer_format"] = "dcp"
        folder = ckpt.save_checkpoint(root, trainer.step, model, trainer.cfg.model, trainer.p.tok.to_json(), state,
                                      meta, stage_files, weights=weights, before_commit=write_shards)
    else:
        write_shards(None)
        folder = root / ckpt.step_dir_name(trainer.step)
    distributed.barrier()
    return folder


def load_optimizer(optimizer: torch.optim.Optimizer, model: torch.nn.Module, state: dict, folder: Path | None) -> None:
    """Put the saved optimizer state back, whichever way the run was trained and is trained now: a plain state dict
    (one process or DDP) into a plain or sharded optimizer, or torch.distributed.checkpoint shards into either."""
    if "optimizer" in state and not is_sharded(model):
        load_optimizer_state(optimizer, state["optimizer"], model)  # also maps the pre-kind-groups AdamW layout
        return
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_optimizer_state_dict,
        set_optimizer_state_dict,
    )
    if "optimizer" in state:  # a plain state dict, by position, into FSDP2: name each entry, then let torch shard it
        set_optimizer_state_dict(model, optimizer, by_name(state["optimizer"], optimizer, model),
                                 options=StateDictOptions(full_state_dict=True))
        return
    if folder is None or not (folder / OPTIMIZER_DIR).is_dir():
        from engine.errors import UserError
        raise UserError(f"{folder}: the optimizer state ({OPTIMIZER_DIR}/) of this sharded checkpoint is missing",
                        "restore the folder, or start a new run from these weights with --init", kind="checkpoint")
    target = plain(model)
    osd = get_optimizer_state_dict(target, optimizer)  # the layout to fill (sharded like the optimizer, or whole)
    with warnings.catch_warnings():  # one process reading shards on purpose: torch's "assuming ..." note is noise
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        dcp.load({"optimizer": osd}, checkpoint_id=str(folder / OPTIMIZER_DIR), no_dist=not dist.is_initialized())
    set_optimizer_state_dict(target, optimizer, osd)


def by_name(saved: dict, optimizer: torch.optim.Optimizer, model: torch.nn.Module) -> dict:
    """A torch optimizer state dict keyed by position turned into one keyed by parameter name, the form
    set_optimizer_state_dict takes. Positions follow the optimizer's param groups, which this run built in the
    same order as the run that saved it (build_optimizer walks named_parameters)."""
    names = {id(p): n for n, p in model.named_parameters()}
    order = [names[id(p)] for g in optimizer.param_groups for p in g["params"]]
    state = {order[i]: v for i, v in saved["state"].items()}
    groups = [{**g, "params": [order[i] for i in g["params"]]} for g in saved["param_groups"]]
    return {"state": state, "param_groups": groups}
