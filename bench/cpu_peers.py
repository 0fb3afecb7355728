"""CPU training speed beside peers: our GPT against nanoGPT's and minimind's model classes on the same shapes and
threads (fp32 eager, each with its own training defaults: AdamW, grad clip 1.0), one optimizer step at a time taken
in turns, so that load from other processes hits every contender alike. Prints JSON with medians and ratios.

    python bench/cpu_peers.py --nanogpt PEERS/nanoGPT/model.py --minimind PEERS/minimind/model/model_minimind.py \
        [--presets tiny small] [--threads 2] [--rounds 5] [--ref GIT_REF ...] [--bf16] [--compile] [--skip NAME ...]

The peers' files are read from where you point (e.g. `git clone` of karpathy/nanoGPT and jingyaogong/minimind);
nothing of theirs is copied here. `--ref` adds our engine's model and optimizer as they were at a git revision
(read with `git show`; with --bf16 also under bf16), so before/after figures come from one run under one load.
The compiled contenders' first step includes torch.compile's time (`first_step`): what a run pays once.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from engine.config import load_config
from engine.cpu_malloc import reuse_freed_memory
from engine.model.apply import apply_compile
from engine.model.gpt import GPT
from engine.optim import build_optimizer

ROOT = Path(__file__).resolve().parent.parent


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def module_at(ref: str, rel: str, name: str):
    """Our engine's file `rel` as it was at git revision `ref`, imported under `name`."""
    text = subprocess.run(["git", "-C", str(ROOT), "show", f"{ref}:{rel}"], check=True, capture_output=True,
                          text=True).stdout
    path = Path(tempfile.mkdtemp()) / f"{name}.py"
    path.write_text(text)
    return load_module(path, name)


def shape(preset: str):
    cfg = load_config(overrides=[f"model.preset={preset}"])
    return cfg, dataclasses.replace(cfg.model, vocab_size=cfg.tokenizer.vocab_size)


def ours(preset: str, gpt_module=None, optim_module=None, bf16: bool = False, compiled: bool = False,
         mode: str | None = None, apply_module=None):
    """(model, optimizer, step fn over (B, T+1) ids) for our GPT, now or at an older revision (its model, optimizer
    and compile regions); `mode` is torch.compile's (None: its default)."""
    cfg, mc = shape(preset)
    torch.manual_seed(0)
    model = (gpt_module.GPT if gpt_module else GPT)(mc)
    if compiled:
        (apply_module.apply_compile if apply_module else apply_compile)(model, **({"mode": mode} if mode else {}))
    opt = (optim_module.build_optimizer if optim_module else build_optimizer)(model, cfg.optim, torch.device("cpu"))

    def forward(x):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return model(x[:, :-1].contiguous(), x[:, 1:].contiguous())[1]
    return model, opt, forward


def nanogpt(preset: str, path: Path):
    cfg, mc = shape(preset)
    mod = load_module(path, "peer_nanogpt")
    torch.manual_seed(0)
    # nanoGPT's train.py defaults on a CPU: bias=False, dropout 0, fp32 (no autocast off CUDA), compile off.
    model = mod.GPT(mod.GPTConfig(block_size=cfg.data.seq_len, vocab_size=mc.vocab_size, n_layer=mc.n_layer,
                                  n_head=mc.n_head, n_embd=mc.d_model, dropout=0.0, bias=False))
    opt = model.configure_optimizers(0.1, cfg.optim.lr, (0.9, 0.95), "cpu")
    return model, opt, lambda x: model(x[:, :-1].contiguous(), x[:, 1:].contiguous())[1]  # as its get_batch


def minimind(preset: str, path: Path):
    cfg, mc = shape(preset)
    mod = load_module(path, "peer_minimind")
    torch.manual_seed(0)
    conf = mod.MiniMindConfig(hidden_size=mc.d_model, num_hidden_layers=mc.n_layer, num_attention_heads=mc.n_head,
                              num_key_value_heads=mc.n_kv_head, vocab_size=mc.vocab_size,
                              intermediate_size=mc.ffn_dim, max_position_embeddings=cfg.data.seq_len + 1,
                              dropout=0.0)
    model = mod.MiniMindForCausalLM(conf)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr)  # its train_pretrain.py: plain AdamW

    def forward(x):  # minimind shifts inside: T+1 ids give T predicted tokens, as for the others
        res = model(x, labels=x)
        return res.loss + res.aux_loss
    return model, opt, forward


def step_fn(model, opt, forward, x):
    def step():
        loss = forward(x)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss)
    return step


def race(preset: str, contenders: dict, batch: int, rounds: int, clock) -> dict:
    cfg, mc = shape(preset)
    t = cfg.data.seq_len
    x = torch.randint(0, mc.vocab_size, (batch, t + 1), generator=torch.Generator().manual_seed(1))
    steps, times, first_loss, first_step = {}, {}, {}, {}
    for name, build in contenders.items():
        model, opt, forward = build()
        model.train()
        steps[name] = step_fn(model, opt, forward, x)
        t0, w0 = clock(), time.perf_counter()
        first_loss[name] = steps[name]()  # warm-up: allocator, kernels (and the compile, for compiled ones)
        first_step[name] = {"clock_s": round(clock() - t0, 2), "wall_s": round(time.perf_counter() - w0, 2)}
        steps[name]()
        times[name] = []
    for r in range(rounds):
        order = list(steps) if r % 2 == 0 else list(reversed(steps))
        for name in order:
            t0 = clock()
            steps[name]()
            times[name].append(clock() - t0)
    tokens = batch * t
    med = {n: statistics.median(v) for n, v in times.items()}
    out = {"batch": batch, "seq_len": t, "tokens_per_step": tokens,
           "tokens_per_s": {n: round(tokens / m, 1) for n, m in med.items()},
           "first_loss": {n: round(v, 4) for n, v in first_loss.items()}, "first_step": first_step,
           "median_step_s": {n: round(m, 4) for n, m in med.items()}}
    base = "nanoGPT" if "nanoGPT" in med else next(iter(med))
    out[f"speed_over_{base}"] = {n: round(med[base] / m, 3) for n, m in med.items()}
    # Per-round ratios: each pair of steps ran within seconds of each other, under nearly the same load.
    out[f"round_ratios_over_{base}"] = {n: [round(b / a, 3) for a, b in zip(times[n], times[base], strict=True)]
                                        for n in med if n != base}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nanogpt", type=Path, help="nanoGPT's model.py")
    ap.add_argument("--minimind", type=Path, help="minimind's model/model_minimind.py")
    ap.add_argument("--presets", nargs="+", default=["tiny", "small"])
    ap.add_argument("--batch", type=int, nargs="+", default=None, help="batch per preset (default: the preset's)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--ref", nargs="*", default=[], help="also race our engine as it was at these git revisions")
    ap.add_argument("--bf16", action="store_true", help="also race our model under bf16 autocast")
    ap.add_argument("--compile", action="store_true", help="also race our model with torch.compile (per block; "
                    "with --bf16 also compiled under bf16). The first step, which compiles, is timed apart")
    ap.add_argument("--autotune", action="store_true", help="also race our model under bf16 compiled with "
                    "mode max-autotune-no-cudagraphs (inductor's C++ GEMM templates, tuned per shape)")
    ap.add_argument("--skip", nargs="*", default=[], help="contenders to leave out (e.g. minimind minigpt@REF)")
    ap.add_argument("--reuse-memory", action="store_true",
                    help="glibc keeps freed memory for reuse, as the engine's runtime sets it (engine/cpu_malloc.py); "
                         "it applies to every contender in the process, peers included")
    ap.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                    help="cpu: this process's CPU seconds (robust on a loaded machine, exact with 1 thread; run "
                         "with OMP_WAIT_POLICY=PASSIVE for more so idle threads do not spin); wall: elapsed seconds")
    args = ap.parse_args()
    if args.reuse_memory:
        reuse_freed_memory()
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    report = {"torch": torch.__version__, "threads": torch.get_num_threads(), "cores": os.cpu_count(),
              "clock": args.clock, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
              "reuse_memory": args.reuse_memory,
              "load_avg_1m_before": os.getloadavg()[0], "presets": {}}
    old = {ref: (module_at(ref, "engine/model/gpt.py", f"gpt_at_{i}"),
                 module_at(ref, "engine/optim.py", f"optim_at_{i}"),
                 module_at(ref, "engine/model/apply.py", f"apply_at_{i}")) for i, ref in enumerate(args.ref)}
    for i, preset in enumerate(args.presets):
        contenders = {}
        if args.nanogpt:
            contenders["nanoGPT"] = lambda p=preset: nanogpt(p, args.nanogpt)
        if args.minimind:
            contenders["minimind"] = lambda p=preset: minimind(p, args.minimind)
        for ref, (g, o, a) in old.items():
            contenders[f"minigpt@{ref}"] = lambda p=preset, g=g, o=o: ours(p, g, o)
            if args.compile:
                contenders[f"minigpt@{ref}_compiled"] = lambda p=preset, g=g, o=o, a=a: ours(
                    p, g, o, compiled=True, apply_module=a)
            if args.bf16:
                contenders[f"minigpt@{ref}_bf16"] = lambda p=preset, g=g, o=o: ours(p, g, o, bf16=True)
            if args.bf16 and args.compile:
                contenders[f"minigpt@{ref}_bf16_compiled"] = lambda p=preset, g=g, o=o, a=a: ours(
                    p, g, o, bf16=True, compiled=True, apply_module=a)
        contenders["minigpt"] = lambda p=preset: ours(p)
        if args.bf16:
            contenders["minigpt_bf16"] = lambda p=preset: ours(p, bf16=True)
        if args.compile:
            contenders["minigpt_compiled"] = lambda p=preset: ours(p, compiled=True)
            if args.bf16:
                contenders["minigpt_bf16_compiled"] = lambda p=preset: ours(p, bf16=True, compiled=True)
        if args.autotune:
            contenders["minigpt_bf16_autotune"] = lambda p=preset: ours(p, bf16=True, compiled=True,
                                                                         mode="max-autotune-no-cudagraphs")
        for name in args.skip:
            contenders.pop(name, None)
        batch = args.batch[i] if args.batch else shape(preset)[0].run.batch_size
        report["presets"][preset] = race(preset, contenders, batch, args.rounds, clock)
        print(json.dumps({preset: report["presets"][preset]}), file=sys.stderr)
    report["load_avg_1m_after"] = os.getloadavg()[0]
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
