"""Where a GPU training step's time goes: the engine's real step (forward + backward + clip + fused AdamW) under the
torch profiler, its kernels grouped by kind (matmul, attention, elementwise/Triton, optimizer, copies), how busy the
GPU is between them, and microbenchmarks of the layer's matmul shapes and of SDPA's attention backends at the same
shapes. Prints one JSON object; the top kernels also go to stderr as a table.

    python bench/gpu_profile.py --preset medium --batch-size 16 [--compile blocks|none] [--steps 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import time

import torch
import torch.nn.functional as F

from engine.config import HardwareConfig, load_config
from engine.estimate import flops_per_token
from engine.hardware import init_runtime
from engine.model.apply import apply_compile
from engine.model.gpt import GPT
from engine.optim import build_optimizer

KINDS = [  # first match wins; names of cuBLAS/CUTLASS/cuDNN/flash/Triton kernels as the profiler reports them
    ("attention", r"flash|fmha|attention|sdpa|cudnn_.*(fprop|dgrad)|pytorch_flash"),
    ("matmul", r"gemm|nvjet|sm90_xmma|cutlass|cublas|xmma|ampere_.*s1688|wgmma"),
    ("optimizer", r"adam|multi_tensor|foreach|fused_.*optim"),
    ("cross_entropy", r"nll_loss|log_softmax|softmax|cross_entropy"),
    ("triton (fused by compile)", r"^triton_"),
    ("copy/fill", r"memcpy|memset|copy|fill|cat|CatArray"),
    ("reduction", r"reduce|norm"),
]


def kind_of(name: str) -> str:
    low = name.lower()
    return next((k for k, pat in KINDS if re.search(pat, low)), "elementwise/other")


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn, reps: int = 10) -> float:
    """Seconds per call, after two warm-ups, timed with CUDA events."""
    for _ in range(2):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    sync()
    return start.elapsed_time(end) / 1000 / reps


def gemm_shapes(m, tokens: int) -> dict:
    """bf16 TFLOP/s of each projection's forward matmul (tokens x in -> out), and of q/k/v and gate/up fused."""
    d, f, hd = m.d_model, m.ffn_dim, m.head_dim
    shapes = {"q": (d, m.n_head * hd), "k or v": (d, m.n_kv_head * hd), "o": (m.n_head * hd, d),
              "gate or up": (d, f), "down": (f, d), "head": (d, m.vocab_size),
              "qkv fused": (d, (m.n_head + 2 * m.n_kv_head) * hd), "gate+up fused": (d, 2 * f)}
    out = {}
    for name, (k, n) in shapes.items():
        a = torch.randn(tokens, k, device="cuda", dtype=torch.bfloat16)
        w = torch.randn(n, k, device="cuda", dtype=torch.bfloat16)
        s = timed(lambda a=a, w=w: F.linear(a, w))
        tflops = 2 * tokens * k * n / s / 1e12
        out[name] = {"shape": [tokens, k, n], "tflops": round(tflops, 1), "ms": round(1e3 * s, 3)}
    return out


def attention_backends(m, batch: int, seq: int) -> dict:
    """Forward + backward of causal SDPA at the model's shapes, per backend, with GQA read in place (enable_gqa)
    and with k/v expanded to every head. TFLOP/s counts the causal half of 4 T^2 D per head, times 3 for fwd+bwd."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    H, Hkv, D = m.n_head, m.n_kv_head, m.head_dim
    q = torch.randn(batch, H, seq, D, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    k = torch.randn(batch, Hkv, seq, D, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    v = torch.randn(batch, Hkv, seq, D, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    flops = 3 * 2 * batch * H * seq * seq * D  # fwd 4 T^2 D / 2 (causal), bwd 2x fwd
    out = {}
    for backend in ("FLASH_ATTENTION", "CUDNN_ATTENTION", "EFFICIENT_ATTENTION", "default"):
        for gqa in (True, False):
            def step(gqa=gqa):
                kk, vv = (k, v) if gqa else (k.repeat_interleave(H // Hkv, 1), v.repeat_interleave(H // Hkv, 1))
                y = F.scaled_dot_product_attention(q, kk, vv, is_causal=True, enable_gqa=gqa and Hkv != H)
                y.sum().backward()
            key = f"{backend} {'gqa' if gqa else 'expanded'}"
            try:
                if backend == "default":
                    s = timed(step)
                else:
                    with sdpa_kernel([getattr(SDPBackend, backend)]):
                        s = timed(step)
                out[key] = {"ms": round(1e3 * s, 3), "tflops": round(flops / s / 1e12, 1)}
            except Exception as e:  # noqa: BLE001 - a backend that does not take these shapes
                out[key] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}"}
    return out


def profile_step(preset: str, batch: int, compile_mode: str, steps: int, device: str = "cuda") -> dict:
    cfg = load_config(overrides=[f"model.preset={preset}"])
    m = dataclasses.replace(cfg.model, vocab_size=cfg.tokenizer.vocab_size)
    rt = init_runtime(HardwareConfig(device=device, precision="bf16"), seed=0)
    model = GPT(m).to(rt.device)
    if compile_mode == "blocks":
        apply_compile(model)
    elif compile_mode == "model":
        model.compile()
    opt = build_optimizer(model, cfg.optim, rt.device)
    t = cfg.data.seq_len
    x = torch.randint(0, m.vocab_size, (batch, t + 1), device=rt.device)
    params = list(model.parameters())

    def step():
        with rt.autocast():
            _, loss = model(x[:, :-1], x[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    t0 = time.perf_counter()
    for _ in range(3):
        step()
    sync()
    warm_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    step_s = (time.perf_counter() - t0) / steps
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            step()
        sync()
    kernels: dict[str, float] = {}
    for ev in prof.key_averages():
        us = getattr(ev, "self_device_time_total", None)
        if us is None:
            us = getattr(ev, "self_cuda_time_total", 0)
        if us and ev.device_type == torch.autograd.DeviceType.CUDA or (device == "cpu" and ev.cpu_children == []
                                                                     and ev.self_cpu_time_total):
            us = us or ev.self_cpu_time_total
            kernels[ev.key] = kernels.get(ev.key, 0.0) + us / steps / 1e3   # ms per step
    by_kind: dict[str, float] = {}
    for name, ms in kernels.items():
        by_kind[kind_of(name)] = by_kind.get(kind_of(name), 0.0) + ms
    busy = sum(kernels.values())
    top = sorted(kernels.items(), key=lambda kv: -kv[1])[:25]
    print(f"\n{preset} b{batch} compile={compile_mode}: step {1e3 * step_s:.1f} ms, kernels {busy:.1f} ms",
          file=sys.stderr)
    for name, ms in top:
        print(f"  {ms:8.3f} ms  {kind_of(name):26} {name[:110]}", file=sys.stderr)
    tokens = batch * t
    tflops = flops_per_token(m, t) * tokens / step_s / 1e12
    return {"preset": preset, "batch": batch, "compile": compile_mode, "warmup_s": round(warm_s, 1),
            "step_ms": round(1e3 * step_s, 2), "kernel_ms": round(busy, 2), "gpu_busy": round(busy / (1e3 * step_s), 3),
            "tokens_per_s": round(tokens / step_s), "tflops": round(tflops, 1), "mfu_vs_989": round(tflops / 989, 4),
            "by_kind_ms": {k: round(v, 2) for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1])},
            "top_kernels": [[n[:160], round(ms, 3)] for n, ms in top],
            "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--compile", nargs="+", default=["blocks"], choices=["none", "blocks", "model"])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--micro", action="store_true", help="also the matmul and attention microbenchmarks")
    ap.add_argument("--device", default="cuda", help="cpu only checks that the script runs")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = True
    cfg = load_config(overrides=[f"model.preset={args.preset}"])
    m = dataclasses.replace(cfg.model, vocab_size=cfg.tokenizer.vocab_size)
    result: dict = {"device": torch.cuda.get_device_name() if args.device == "cuda" else args.device,
                    "torch": torch.__version__}
    if args.micro:
        result["gemm"] = gemm_shapes(m, args.batch_size * cfg.data.seq_len)
        print(json.dumps(result["gemm"]), file=sys.stderr, flush=True)
        result["attention"] = attention_backends(m, args.batch_size, cfg.data.seq_len)
        print(json.dumps(result["attention"]), file=sys.stderr, flush=True)
    result["steps"] = []
    for mode in args.compile:
        try:
            result["steps"].append(profile_step(args.preset, args.batch_size, mode, args.steps, args.device))
        except Exception as e:  # noqa: BLE001 - the other modes still count
            result["steps"].append({"compile": mode, "error": f"{type(e).__name__}: {str(e)[:300]}"})
        torch._dynamo.reset()
        torch.cuda.empty_cache()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
