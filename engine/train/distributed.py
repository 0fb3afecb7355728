"""Training in several processes through torch.distributed: the process group, who does what, and the pieces the
shared loop calls so that N processes train like one.

torchrun (or `minigpt train --nproc N`, which execs it) starts the processes and sets RANK / WORLD_SIZE; here the
group is joined (gloo on the CPU, NCCL for CUDA tensors), rank 0 alone owns the run folder, events and checkpoints,
every rank walks the same global data order and keeps its share, and rank 0's commands reach every rank. With one
process every function here is a no-op, so the loop has no `if distributed` branches. Checkpoint files are
dist_checkpoint.py's; the DDP / FSDP2 wrappers are engine/model/apply.py's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from engine.errors import UserError
from engine.hardware import Runtime

# A collective that waits longer than this means a peer is gone or stuck: the run ends instead of hanging. Long
# enough for what rank 0 does alone while the others wait (writing a large checkpoint) to finish first.
COLLECTIVE_TIMEOUT_S = float(os.environ.get("MINIGPT_COLLECTIVE_TIMEOUT_S", 900))
# Stages whose batches come from the live policy or that train a module beside it: not split across processes yet.
SINGLE_PROCESS_STAGES = ("ppo", "grpo", "reward")


def env_world() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def launch(nproc: int, argv: list[str]) -> None:
    """`minigpt train ... --nproc N`: replace this process by torchrun running N copies of the same command (minus
    --nproc). One machine (--standalone picks a free port); across machines run torchrun with its rendezvous flags."""
    if nproc == 1:
        return  # one process needs no launcher
    if nproc < 1:
        raise UserError(f"--nproc {nproc}: must be at least 1", "e.g. --nproc 2 to train in two processes",
                        kind="config")
    args, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            args.append(a)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "engine.cli", *args]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, cmd)


def join() -> tuple[int, int]:
    """Join the process group torchrun prepared (once). Returns (rank, world); (0, 1) without torchrun."""
    world = env_world()
    if world <= 1 or dist.is_initialized():
        return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=COLLECTIVE_TIMEOUT_S))
    return dist.get_rank(), dist.get_world_size()


def leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def place(rt: Runtime, rank: int, world: int) -> Runtime:
    """The runtime of one rank: its rank and world, and on CUDA its own GPU (cuda:LOCAL_RANK)."""
    device = rt.device
    if world > 1 and device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if local >= torch.cuda.device_count():
            raise UserError(f"rank {rank} wants GPU {local}, but only {torch.cuda.device_count()} are visible",
                            "start at most one process per GPU (--nproc / --nproc_per_node)", kind="config")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    return dataclasses.replace(rt, device=device, rank=rank, world=world)


def parallel_mode(mode: str, world: int) -> str:
    """The wrapper this run trains through: several processes with `none` train as DDP; one process never wraps."""
    if world <= 1:
        return "none"
    return "ddp" if mode == "none" else mode


def describe(mode: str, stage: str, rt: Runtime) -> str:
    """The log line of a run in several processes; refuses a stage that cannot be split across them."""
    if stage in SINGLE_PROCESS_STAGES:
        raise UserError(f"the {stage} stage trains in one process only ({rt.world} were started)",
                        "run it without --nproc / torchrun; pretrain, sft and dpo run on several", kind="config")
    used = parallel_mode(mode, rt.world)
    note = " (hardware.parallel is none, so each process holds a full copy)" if mode == "none" else ""
    backend = dist.get_backend() if dist.is_initialized() else "none"
    return f"training in {rt.world} processes with {used}{note}; backend {backend}; global batch = " \
           f"{rt.world} x run.batch_size x run.grad_accum sequences"


def broadcast(obj):
    """Rank 0's `obj` on every rank (pickled); the object itself without a process group."""
    if not dist.is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """The sum over ranks (a new tensor; the input without a process group)."""
    if not dist.is_initialized():
        return t
    t = t.clone()
    dist.all_reduce(t)
    return t


def step_totals(loss_sum: torch.Tensor, extras: dict[str, torch.Tensor], tokens: int, world: int):
    """One all-reduce for what a step reports: (summed loss over all ranks, each extra averaged over ranks,
    tokens over all ranks). Extras are 0-d or 1-D, flattened into one buffer and cut back."""
    if world <= 1:
        return loss_sum, extras, tokens
    dev = loss_sum.device  # float64: a step's token count stays exact far beyond float32's 2**24
    parts = [loss_sum.reshape(1).double(), torch.tensor([float(tokens)], dtype=torch.float64, device=dev)]
    parts += [v.reshape(-1).to(dev, torch.float64) for v in extras.values()]
    flat = all_reduce_sum(torch.cat(parts))
    out, at = {}, 2
    for k, v in extras.items():
        out[k] = (flat[at:at + v.numel()] / world).reshape(v.shape).to(v.dtype)
        at += v.numel()
    return flat[0].to(loss_sum.dtype), out, int(flat[1].item())


def all_finite(params: list[torch.Tensor]) -> bool:
    """Whether every weight on every rank is finite (each rank checks what it holds: its shard under FSDP)."""
    local = torch.stack([torch.isfinite(local_tensor(p)).all() for p in params]).all()
    if dist.is_initialized():
        bad = (~local).to(torch.float32).reshape(1)
        return float(all_reduce_sum(bad)) == 0.0
    return bool(local)


def local_tensor(t: torch.Tensor) -> torch.Tensor:
    """A DTensor's local shard (FSDP2), or the tensor itself."""
    return t.to_local() if hasattr(t, "to_local") else t


def full_value(t: torch.Tensor) -> torch.Tensor:
    """A DTensor's global value (e.g. the gradient norm under FSDP2: a collective), or the tensor itself."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


@contextlib.contextmanager
def grad_sync(model: torch.nn.Module, sync: bool):
    """Within the block, backward syncs gradients across ranks only when `sync` (the step's last micro-batch):
    DDP's no_sync(), FSDP2's set_requires_gradient_sync(). Nothing without a wrapper."""
    if sync:
        yield
    elif hasattr(model, "no_sync"):
        with model.no_sync():
            yield
    elif hasattr(model, "set_requires_gradient_sync"):
        model.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            model.set_requires_gradient_sync(True)
    else:
        yield


def seed_rank(seed: int, step: int, rt: Runtime) -> None:
    """Ranks above 0 draw their own dropout noise, from a seed fixed by (run.seed, step, rank); rank 0 keeps the
    stream a single process has (and its checkpoint restores)."""
    if rt.rank > 0:
        torch.manual_seed((seed * 1_000_003 + step * 7919 + rt.rank) % 2**63)


@contextlib.contextmanager
def cache_lock(workspace: Path, world: int):
    """One rank at a time through the set-up that writes shared caches (built-in data, the trained tokenizer,
    pretokenized sets): the first builds them, the others then find them built."""
    if world <= 1:
        yield
        return
    from filelock import FileLock
    workspace.mkdir(parents=True, exist_ok=True)
    with FileLock(str(workspace / ".setup.lock")):
        yield


def peer_failure(e: BaseException, rt: Runtime) -> BaseException:
    """A collective that failed because another rank died or timed out, as one clear UserError (no traceback on
    every rank); any other error as it is. The run's checkpoints are left as they are."""
    if rt.world <= 1 or not _is_peer_failure(e):
        return e
    return UserError(f"rank {rt.rank} of {rt.world}: another process of this run stopped answering "
                     f"({type(e).__name__}: {str(e).splitlines()[0][:200]})",
                     "the first failure in the log above is the cause; the last checkpoint is intact: resume with "
                     "`minigpt train --resume RUN_DIR` (with any number of processes)", kind="distributed")


def _is_peer_failure(e: BaseException) -> bool:
    if isinstance(e, dist.DistError):
        return True
    text = str(e).lower()
    return any(s in text for s in ("connection closed", "connection reset", "gloo", "nccl", "timed out",
                                   "broken pipe", "peer"))


class ShardedBatches:
    """Rank r's share of a global batch order: every rank walks the same seeded iterator and keeps every world-th
    micro-batch, starting at its rank. So micro-batch j of a step on rank r is the order's batch j * world + r, the
    ranks together see what one process with world x batch_size sees, and the cursor (the inner iterator's state)
    is the same on every rank: a run resumes on any number of processes at the same place in the data."""

    def __init__(self, inner, rank: int, world: int):
        self.inner, self.rank, self.world = inner, rank, world

    def __iter__(self):
        return self

    def __next__(self):
        mine = None
        for r in range(self.world):
            batch = next(self.inner)
            if r == self.rank:
                mine = batch
        return mine

    @property
    def epoch_progress(self) -> float:
        return getattr(self.inner, "epoch_progress", 0.0)

    def state_dict(self) -> dict:
        return self.inner.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.inner.load_state_dict(state)


def shard_batches(batches, rt: Runtime):
    return batches if rt.world <= 1 else ShardedBatches(batches, rt.rank, rt.world)


class SharedCommands:
    """The command queue every rank reads: rank 0 takes commands from stdin, the control folder and signals, and
    broadcasts what it took, so pause / save / stop happen on every rank at the same step."""

    def __init__(self, local, rank: int):
        self.local, self.rank = local, rank

    def poll(self) -> list[dict]:
        return broadcast(self.local.poll() if self.rank == 0 else None)

    def wait(self, timeout: float) -> dict | None:
        return broadcast(self.local.wait(timeout) if self.rank == 0 else None)


def shared_commands(commands, rt: Runtime):
    return commands if rt.world <= 1 else SharedCommands(commands, rt.rank)


def wrap_model(model: torch.nn.Module, mode: str, rt: Runtime) -> torch.nn.Module:
    """The module the loop trains through: a DDP wrapper, the model sharded in place by FSDP2, or the model."""
    mode = parallel_mode(mode, rt.world)
    if mode == "none":
        return model
    from engine.model.apply import apply_ddp, apply_fsdp
    return apply_fsdp(model) if mode == "fsdp" else apply_ddp(model, rt.device)
