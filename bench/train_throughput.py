"""Training throughput of the presets: tokens/s, achieved FLOP/s and MFU for one optimizer step
(forward + backward + AdamW), per preset, precision and compile mode (eager, and compiled with --compile) side by
side in one run. Prints JSON, with `mfu_table[preset][precision][eager|compiled]`.

    python bench/train_throughput.py [--presets tiny small] [--precisions fp32 bf16] [--steps 8] [--device cpu]
                                     [--compile] [--batch-size N] [--peak-tflops T] [--threads N] [--repeats R]

--repeats R measures every case R times, interleaved (A B A B ...), so a load that drifts on a shared machine falls
on both sides; the ratio is then the median's. `cpu_s_per_step` (process CPU time over steps) suffers less from
other processes than the wall clock does.

MFU is achieved FLOP/s over the chip's dense bf16 peak (the table below, by the GPU's name, or --peak-tflops), for
every precision alike, so fp32 rows show how far they are from what bf16 could reach. CPUs report none unless
--peak-tflops is given.

The model, optimizer and autocast are the engine's own; batches are random token ids (data loading is not timed).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time

import torch

from engine.config import HardwareConfig, load_config
from engine.estimate import flops_per_token
from engine.hardware import device_name, init_runtime
from engine.model.apply import apply_compile
from engine.model.gpt import GPT
from engine.optim import build_optimizer

# Dense bf16 tensor-core peaks (vendor datasheets, TFLOP/s) for MFU; unknown chips report no MFU.
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "RTX 4090": 165.0}


def peak_tflops(name: str) -> float | None:
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def measure(preset: str, precision: str, steps: int, device: str, batch_size: int | None,
            compiled: bool = False, peak_override: float | None = None, threads: int = 0) -> dict:
    cfg = load_config(overrides=[f"model.preset={preset}"])
    model_cfg = dataclasses.replace(cfg.model, vocab_size=cfg.tokenizer.vocab_size)
    rt = init_runtime(HardwareConfig(device=device, precision=precision, threads=threads), seed=0)
    model = GPT(model_cfg).to(rt.device)
    if compiled:
        apply_compile(model)
    opt = build_optimizer(model, cfg.optim, rt.device)
    b, t = batch_size or cfg.run.micro_batch, cfg.data.seq_len
    x = torch.randint(0, model_cfg.vocab_size, (b, t + 1), device=rt.device)

    def step():
        with rt.autocast():
            _, loss = model(x[:, :-1], x[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    for _ in range(3 if compiled else 2):  # warm-up: allocator, kernels, autocast caches, compilation
        step()
    if rt.device.type == "cuda":
        torch.cuda.synchronize()
    t0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        loss = step()
    loss.item()
    if rt.device.type == "cuda":
        torch.cuda.synchronize()
    elapsed, cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    tokens = steps * b * t
    flops = flops_per_token(model_cfg, t) * tokens
    name = device_name(rt.device)
    tflops = flops / elapsed / 1e12
    peak = peak_override or (peak_tflops(name) if rt.device.type == "cuda" else None)
    return {"preset": preset, "precision": rt.precision, "compiled": compiled, "device": name, "peak_tflops": peak,
            "params": model.num_params(), "batch": b, "seq_len": t, "steps": steps, "step_s": round(elapsed / steps, 4),
            "cpu_s_per_step": round(cpu_s / steps, 4), "threads": torch.get_num_threads(),
            "tokens_per_s": round(tokens / elapsed, 1), "tflops": round(tflops, 4),
            "mfu": round(tflops / peak, 4) if peak else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["tiny", "small"])
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--compile", action="store_true", help="also measure each case with torch.compile")
    ap.add_argument("--peak-tflops", type=float, help="the chip's dense bf16 peak, for MFU where the table lacks it")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--repeats", type=int, default=1, help="measure each case this many times, interleaved")
    args = ap.parse_args()
    results = []
    # one pass over every precision per repeat (A B A B ...), not all of A then all of B
    cases = [(p, prec) for p in args.presets for _ in range(args.repeats) for prec in args.precisions]
    for p, prec in cases:
        for c in ([False, True] if args.compile else [False]):
            try:
                results.append(measure(p, prec, args.steps, args.device, args.batch_size, c, args.peak_tflops,
                                       args.threads))
            except Exception as e:  # e.g. out of memory or a compile failure: the other rows still count
                results.append({"preset": p, "precision": prec, "compiled": c, "error": f"{type(e).__name__}: "
                                f"{str(e).splitlines()[0][:300] if str(e) else ''}"})
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
            if c:
                torch._dynamo.reset()  # each compiled model starts from an empty cache, as in a new run
    mfu_table: dict = {}
    for r in results:
        cell = mfu_table.setdefault(r["preset"], {}).setdefault(r["precision"], {})
        cell["compiled" if r["compiled"] else "eager"] = r.get("mfu", r.get("error"))
    ok = [r for r in results if not r["compiled"] and "error" not in r]
    ratios, cpu_ratios = {}, {}
    for p in args.presets:
        fast = {prec: statistics.median(r["tokens_per_s"] for r in ok if (r["preset"], r["precision"]) == (p, prec))
                for prec in ("fp32", "bf16") if any((r["preset"], r["precision"]) == (p, prec) for r in ok)}
        cost = {prec: statistics.median(r["cpu_s_per_step"] for r in ok if (r["preset"], r["precision"]) == (p, prec))
                for prec in fast}
        if len(fast) == 2:
            ratios[p] = round(fast["bf16"] / fast["fp32"], 2)
            cpu_ratios[p] = round(cost["fp32"] / cost["bf16"], 2)  # > 1: bf16 needs less CPU time per step
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "repeats": args.repeats,
                      "results": results, "mfu_table": mfu_table, "bf16_over_fp32": ratios,
                      "bf16_over_fp32_cpu_time": cpu_ratios}, indent=1))


if __name__ == "__main__":
    main()
