"""Everything a run needs before its first step, in order: a memory check, data files, tokenizer, pretokenized
sets, model (fresh, from --init, or resumed), then the stage's own set-up (a reference model, a value head).
Each step fails early with a UserError naming the cause.

Set-up has no step boundary to stop at and nothing worth saving, so SIGTERM / Ctrl-C end it at once (the
training loop's own handlers, which stop at the next step and save, are back in place once it returns).
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine import checkpoint as ckpt
from engine.config import Config
from engine.data import builtin
from engine.data.loaders import holdout_split
from engine.data.pretokenize import TokenizedSet, pretokenize
from engine.data.sources import StageData, resolve_stage_data, sources_key, tokenizer_texts
from engine.errors import UserError
from engine.estimate import memory_bytes, memory_refusal
from engine.events import EventSink
from engine.hardware import Runtime, free_memory
from engine.lora_checkpoint import prepare_lora_model
from engine.model.apply import apply_grad_checkpointing
from engine.model.gpt import GPT
from engine.tokenizer import Tokenizer, train_tokenizer, vocab_shortfall
from engine.train.stage import Stage, StageContext


@dataclass
class RunParts:
    cfg: Config
    stage: Stage
    tok: Tokenizer
    model: GPT
    train_set: TokenizedSet
    val_set: TokenizedSet
    train_items: np.ndarray
    val_items: np.ndarray
    data: StageData
    task_items: list[dict]
    ctx: StageContext


def get_tokenizer(cfg: Config, workspace: Path, data: StageData, init_dir: Path | None, sink: EventSink) -> Tokenizer:
    """The checkpoint's tokenizer for --init/--resume, else tokenizer.path, else one trained on the data (cached)."""
    if init_dir is not None:
        tok = Tokenizer.load(init_dir / ckpt.TOKENIZER)
        if cfg.tokenizer.path:
            other = Tokenizer.load(cfg.tokenizer.path)
            if other.to_json() != tok.to_json():
                raise UserError(f"tokenizer.path {cfg.tokenizer.path} differs from the tokenizer of {init_dir}",
                                "a model only works with the tokenizer it was trained with; leave tokenizer.path "
                                "empty to use the checkpoint's", kind="config")
        return tok
    if cfg.tokenizer.path:
        return Tokenizer.load(cfg.tokenizer.path)
    read_as = data.read_as(data.train)
    key = sources_key(data.train, cfg.tokenizer.vocab_size, cfg.tokenizer.sample_bytes, cfg.tokenizer.min_frequency,
                      *([read_as["encoding"]] if read_as["encoding"] != "utf-8" else []))
    folder = workspace / "tokenizers" / f"auto-{key}"
    if (folder / "tokenizer.json").is_file():
        sink.log(f"using cached tokenizer {folder}")
        return Tokenizer.load(folder)
    sink.log(f"training a {cfg.tokenizer.vocab_size}-token BPE tokenizer on {len(data.train)} file(s)")
    def progress(done: int, total: int) -> None:
        sink.emit("progress", phase="tokenizer", done=done, total=total)
    texts = tokenizer_texts(data.train, cfg.tokenizer.sample_bytes, progress=progress, encoding=read_as["encoding"])
    tok = train_tokenizer(texts, cfg.tokenizer.vocab_size, cfg.tokenizer.min_frequency)
    if tok.vocab_size < cfg.tokenizer.vocab_size:
        sink.log(vocab_shortfall(tok.vocab_size, cfg.tokenizer.vocab_size, "tokenizer.vocab_size"), "warning")
    tok.save(folder)
    return tok


class SetupInterrupted(KeyboardInterrupt):
    """SIGTERM or SIGINT arrived during set-up."""


@contextlib.contextmanager
def interruptible():
    """Within this block SIGTERM and SIGINT raise SetupInterrupted wherever Python code runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    def on_signal(signum, frame):
        raise SetupInterrupted(signal.Signals(signum).name)
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def build_parts(cfg: Config, stage: Stage, workspace: Path, sink: EventSink, rt: Runtime,
                init_dir: Path | None, origin: Path | None = None, resume_dir: Path | None = None) -> RunParts:
    """The run's parts; a signal during set-up ends the process with a `done` event of status stopped.

    init_dir: where the weights come from (the resumed step folder, else stage.init's); origin: stage.init's step
    folder as the run first resolved it, handed to the stage's set-up (e.g. for a frozen reference)."""
    try:
        with interruptible():
            return _build_parts(cfg, stage, workspace, sink, rt, init_dir, origin, resume_dir)
    except SetupInterrupted as e:
        sink.log(f"{e} during set-up: stopped before the first step, so there is nothing to save")
        sink.emit("done", status="stopped", summary={"steps": 0, "tokens_seen": 0, "stopped_in": "set-up"})
        raise SystemExit(0) from None


def check_memory(cfg: Config, model_cfg, vocab_size: int, rt: Runtime, sink: EventSink | None = None) -> None:
    """Refuse, before anything is allocated, a run whose estimate exceeds the device's free memory."""
    cfg = dataclasses.replace(cfg, model=model_cfg)
    free, where = free_memory(rt.device)
    refusal = memory_refusal(cfg, free, vocab_size, rt.precision, where)
    if refusal is not None:
        raise UserError(*refusal, kind="memory")
    if sink is not None:
        need = memory_bytes(cfg, vocab_size, rt.precision)["total"]
        sink.log(f"memory estimate ~{need / 2**30:.2f} GiB; {where} has {free / 2**30:.1f} GiB free")


def _build_parts(cfg: Config, stage: Stage, workspace: Path, sink: EventSink, rt: Runtime,
                 init_dir: Path | None, origin: Path | None, resume_dir: Path | None) -> RunParts:
    # First with the configured vocabulary (before data and tokenizer cost anything), then with the real one.
    early = ckpt.model_config_of(init_dir) if init_dir is not None else cfg.model
    if init_dir is not None:
        ckpt.check_weights_file(init_dir)   # a damaged file fails now, not after the data is tokenized
    check_memory(cfg, early, early.vocab_size or cfg.tokenizer.vocab_size, rt)
    data = resolve_stage_data(stage.name, cfg.data.train, cfg.data.val, workspace, cfg.data.max_bad_fraction,
                              cfg.data.seed, log=lambda m, level="info": sink.log(m, level),
                              encoding=cfg.data.encoding, control_tokens=cfg.data.control_tokens)
    tok = get_tokenizer(cfg, workspace, data, init_dir, sink)

    if init_dir is not None:  # the model's shape is the checkpoint's; only training-time knobs apply
        model_cfg = dataclasses.replace(ckpt.model_config_of(init_dir), dropout=cfg.model.dropout)
        sink.log(f"model shape from {init_dir} ({model_cfg.d_model} x {model_cfg.n_layer}); of the model section "
                 "only dropout applies")
        if model_cfg.max_seq_len < cfg.data.seq_len:
            raise UserError(f"data.seq_len {cfg.data.seq_len} exceeds the checkpoint's max_seq_len "
                            f"{model_cfg.max_seq_len}", f"use data.seq_len <= {model_cfg.max_seq_len}", kind="config")
    else:
        model_cfg = dataclasses.replace(cfg.model, vocab_size=cfg.model.vocab_size or tok.vocab_size)
    if model_cfg.vocab_size < tok.vocab_size:
        raise UserError(f"model.vocab_size {model_cfg.vocab_size} is smaller than the tokenizer's "
                        f"{tok.vocab_size}", "set model.vocab_size to 0 to take it from the tokenizer", kind="config")
    cfg = dataclasses.replace(cfg, model=model_cfg)
    check_memory(cfg, model_cfg, model_cfg.vocab_size, rt, sink)

    def progress(phase, done, total):
        sink.emit("progress", phase=phase, done=done, total=total)

    data_root = workspace / "data"
    train_set = pretokenize(data.train, stage.kind, tok, data_root, progress, **data.read_as(data.train))
    if data.val:
        val_set = pretokenize(data.val, stage.kind, tok, data_root, progress, **data.read_as(data.val))
        train_items = np.arange(stage.units(train_set, cfg))
        val_items = np.arange(stage.units(val_set, cfg))
    else:
        val_set = train_set
        every = max(2, round(1 / cfg.data.val_fraction)) if cfg.data.val_fraction > 0 else 0
        train_items, val_items = holdout_split(stage.units(train_set, cfg), every)
    if len(train_items) == 0:
        raise UserError(f"the training data gives no complete sequence of {cfg.data.seq_len + 1} tokens "
                        f"({train_set.n_tokens} tokens in all)", "add data or lower data.seq_len", kind="data")
    if stage.kind == "sft":
        warn_lossless_conversations(train_set, cfg.data.seq_len, sink)
    if len(val_items) == 0:
        sink.log("no validation data: val loss will not be measured (add data.val or raise data.val_fraction)",
                 "warning")
    sink.log(f"{stage.name} data: {train_set.n_tokens:,} tokens in {train_set.n_docs:,} records; "
             f"{len(train_items):,} training and {len(val_items):,} validation units")

    torch.manual_seed(cfg.run.seed)
    model = GPT(cfg.model)
    if cfg.lora.rank:  # a frozen base from stage.init, trainable adapters (restored on resume)
        prepare_lora_model(model, cfg, origin, resume_dir, sink, tok, train_set.tokens)
    elif init_dir is not None:
        ckpt.load_weights(model, init_dir)
    model.to(rt.device)
    if cfg.hardware.grad_checkpointing:
        apply_grad_checkpointing(model)

    task_items = []
    if data.builtin and cfg.run.task_eval_items > 0:
        task_items = builtin_task_items(workspace, cfg.data.seed, cfg.run.task_eval_items)
    ctx = StageContext(cfg=cfg, tok=tok, rt=rt, workspace=workspace, sink=sink, model=model, init_dir=origin,
                       resume_dir=resume_dir)
    stage.setup(ctx)
    return RunParts(cfg, stage, tok, model, train_set, val_set, train_items, val_items, data, task_items, ctx)


def warn_lossless_conversations(data: TokenizedSet, seq_len: int, sink: EventSink) -> None:
    """Conversations whose first seq_len + 1 tokens hold no assistant token teach nothing: say how many."""
    starts, ends = data.offsets[:-1], np.minimum(data.offsets[1:], data.offsets[:-1] + seq_len + 1)
    lossless = sum(1 for a, b in zip(starts.tolist(), ends.tolist(), strict=True) if not data.mask[a:b].any())
    if lossless:
        sink.log(f"{lossless:,} of {data.n_docs:,} conversations have no assistant reply within data.seq_len "
                 f"{seq_len} tokens and teach nothing; raise data.seq_len to keep them", "warning")


def builtin_task_items(workspace: Path, seed: int, n: int) -> list[dict]:
    """The first n held-out checkable items, interleaved across task families so any n is balanced."""
    import json
    path = builtin.builtin_file(workspace, "tasks_val", seed)
    by_family: dict[str, list[dict]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        by_family.setdefault(item["task"], []).append(item)
    out: list[dict] = []
    queues = list(by_family.values())
    while len(out) < n and any(queues):
        for q in queues:
            if q and len(out) < n:
                out.append(q.pop(0))
    return out
