"""Training throughput of the presets: tokens/s and achieved FLOP/s for one optimizer step
(forward + backward + AdamW), fp32 and bf16 side by side in one run. Prints JSON.

    python bench/train_throughput.py [--presets tiny small] [--precisions fp32 bf16] [--steps 8] [--device cpu]

The model, optimizer and autocast are the engine's own; batches are random token ids (data loading is not timed).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import torch

from engine.config import HardwareConfig, load_config
from engine.estimate import flops_per_token
from engine.hardware import device_name, init_runtime
from engine.model.gpt import GPT
from engine.optim import build_optimizer


def measure(preset: str, precision: str, steps: int, device: str, batch_size: int | None) -> dict:
    cfg = load_config(overrides=[f"model.preset={preset}"])
    model_cfg = dataclasses.replace(cfg.model, vocab_size=cfg.tokenizer.vocab_size)
    rt = init_runtime(HardwareConfig(device=device, precision=precision), seed=0)
    model = GPT(model_cfg).to(rt.device)
    opt = build_optimizer(model, cfg.optim, rt.device)
    b, t = batch_size or cfg.run.batch_size, cfg.data.seq_len
    x = torch.randint(0, model_cfg.vocab_size, (b, t + 1), device=rt.device)

    def step():
        with rt.autocast():
            _, loss = model(x[:, :-1], x[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    for _ in range(2):  # warm-up: allocator, kernels, autocast caches
        step()
    if rt.device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    loss.item()
    if rt.device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0
    tokens = steps * b * t
    flops = flops_per_token(model_cfg, t) * tokens
    return {"preset": preset, "precision": rt.precision, "device": device_name(rt.device), "params": model.num_params(),
            "batch": b, "seq_len": t, "steps": steps, "step_s": round(elapsed / steps, 4),
            "tokens_per_s": round(tokens / elapsed, 1), "tflops": round(flops / elapsed / 1e12, 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["tiny", "small"])
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    results = [measure(p, prec, args.steps, args.device, args.batch_size)
               for p in args.presets for prec in args.precisions]
    by = {(r["preset"], r["precision"]): r["tokens_per_s"] for r in results}
    ratios = {p: round(by[(p, "bf16")] / by[(p, "fp32")], 2) for p in args.presets
              if (p, "bf16") in by and (p, "fp32") in by}
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "results": results,
                      "bf16_over_fp32": ratios}, indent=1))


if __name__ == "__main__":
    main()
