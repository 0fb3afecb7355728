"""Decode speed: our Generator vs transformers' `generate` on the exported copy of the same random-init weights, per
model preset: greedy tokens/s at batch 1 and 8 and time to first token, best of N runs taken in turns; one JSON.

    .venv/bin/python bench/decode.py [--presets tiny,small] [--threads N] [--device cuda] [--repeats 5] [--int8]
                                     [--clock cpu]

Rows: `ours` and `transformers` are fp32; on CUDA `ours` replays its decode step from a CUDA graph and
`ours_no_graph` is the same generator launching it op by op (`first_generation_b1_s`: a fresh generator's first
reply, recording included); `ours_int8` (with --int8, CPU only) is QUANTIZED: our model after
engine.model.quantize.apply_int8 (`--quantize int8`), its speedups over transformers' fp32 in `speedup_int8_*`.
--clock cpu times this process's CPU seconds instead of elapsed ones: steadier on a loaded machine (use --threads 1).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch
import yaml
from safetensors.torch import save_file

from engine.config import PRESETS_DIR, ModelConfig
from engine.export import hf_config, hf_state_dict
from engine.generate import Generator, SamplingParams
from engine.model.gpt import GPT
from engine.model.quantize import apply_int8


def preset_model(name: str) -> GPT:
    doc = yaml.safe_load((PRESETS_DIR / "models" / f"{name}.yaml").read_text())
    vocab = doc.get("tokenizer", {}).get("vocab_size", 4096)
    torch.manual_seed(0)
    return GPT(ModelConfig(**{**doc["model"], "vocab_size": vocab})).eval()


def export_copy(model: GPT, folder: Path):
    """Write the model as an HF Llama folder with engine.export's mapping and load it back with transformers."""
    from transformers import AutoModelForCausalLM
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(hf_state_dict(state, model.cfg), str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(hf_config(model.cfg, None)))
    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()


def race(fns: dict, repeats: int, clock=time.perf_counter) -> dict[str, float]:
    """Best-of-`repeats` seconds of each zero-arg fn, run in turns so that load from other processes hits all alike."""
    for fn in fns.values():
        fn()  # warm-up
    best = {name: float("inf") for name in fns}
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    for _ in range(repeats):
        for name, fn in fns.items():
            sync()
            t0 = clock()
            fn()
            sync()
            best[name] = min(best[name], clock() - t0)
    return best


def contenders(model: GPT, hf, prompts: torch.Tensor, new: int, int8: GPT | None = None) -> dict:
    """Zero-arg callables: (who, what) -> run. Greedy, no stop tokens, exactly `new` tokens per row."""
    gens = {"ours": Generator(model, stop_ids=[], pad_id=0)}
    if prompts.is_cuda:  # the same generator with the CUDA-graph decode step turned off: what the graph buys
        gens["ours_no_graph"] = Generator(model, stop_ids=[], pad_id=0)
        gens["ours_no_graph"].graphs.update({1: None, 8: None})
    if int8 is not None:
        gens["ours_int8"] = Generator(int8, stop_ids=[], pad_id=0)
    kw = dict(do_sample=False, eos_token_id=None, pad_token_id=0, temperature=None, top_p=None, top_k=None)

    def ours(b: int, n: int, who: str = "ours"):
        return gens[who].generate(prompts[:b].tolist(), SamplingParams.greedy(n))

    def ours_first(who: str = "ours"):
        for _ in gens[who].stream(prompts[:1].tolist(), SamplingParams.greedy(new)):
            break

    def theirs(b: int, n: int):
        ids = prompts[:b]
        with torch.inference_mode():
            out = hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=n, **kw)
        return out[:, ids.shape[1]:].tolist()
    runs = {}
    for b in (1, 8):
        for who in gens:
            runs[(who, f"b{b}")] = lambda b=b, who=who: ours(b, new, who)
        runs[("transformers", f"b{b}")] = lambda b=b: theirs(b, new)
    for who in gens:
        runs[(who, "ttft")] = lambda who=who: ours_first(who)
    runs[("transformers", "ttft")] = lambda: theirs(1, 1)
    same = {"same_greedy_tokens": ours(8, new) == theirs(8, new)}
    if prompts.is_cuda:
        same["same_greedy_tokens_without_graph"] = ours(8, new) == ours(8, new, "ours_no_graph")
        fresh = Generator(model, stop_ids=[], pad_id=0)  # the first generation records the graph: its cost
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fresh.generate(prompts[:1].tolist(), SamplingParams.greedy(new))
        torch.cuda.synchronize()
        same["first_generation_b1_s"] = time.perf_counter() - t0
    if int8 is not None:  # how many of the quantized model's greedy tokens match the fp32 model's, per position
        a, q = ours(8, new), ours(8, new, "ours_int8")
        same["int8_greedy_token_match"] = sum(x == y for r, s in zip(a, q, strict=True)
                                              for x, y in zip(r, s, strict=True)) / (8 * new)
    return runs, same


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="tiny,small")
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--prompt-len", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--int8", action="store_true", help="also race our model with int8 Linear weights (CPU only)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    report: dict = {"device": str(dev), "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "torch_threads": torch.get_num_threads(), "load_avg_1m": os.getloadavg()[0],
                    "torch": torch.__version__, "new_tokens": args.new_tokens, "prompt_len": args.prompt_len,
                    "dtype": "float32", "clock": args.clock,
                    "quantized_rows": ["ours_int8"] if args.int8 else [], "presets": {}}
    import transformers
    report["transformers"] = transformers.__version__
    for name in args.presets.split(","):
        model = preset_model(name)
        g = torch.Generator().manual_seed(1)
        prompts = torch.randint(8, model.cfg.vocab_size, (8, args.prompt_len), generator=g).to(dev)
        with tempfile.TemporaryDirectory() as tmp:
            hf = export_copy(model, Path(tmp)).to(dev)
            model.to(dev)
            int8 = apply_int8(copy.deepcopy(model)) if args.int8 else None
            runs, same = contenders(model, hf, prompts, args.new_tokens, int8)
            best = race(runs, args.repeats, time.process_time if args.clock == "cpu" else time.perf_counter)
        result: dict = {"params": model.num_params(), **same}
        extra = (("ours_int8",) if int8 is not None else ()) + (("ours_no_graph",) if dev.type == "cuda" else ())
        for who in ("ours", "transformers") + extra:
            result[who] = {"tokens_per_s_b1": args.new_tokens / best[(who, "b1")],
                           "tokens_per_s_b8": 8 * args.new_tokens / best[(who, "b8")],
                           "ttft_s": best[(who, "ttft")]}
        for b in ("b1", "b8"):
            result[f"speedup_{b}"] = result["ours"][f"tokens_per_s_{b}"] / result["transformers"][f"tokens_per_s_{b}"]
            if int8 is not None:
                result[f"speedup_int8_{b}"] = (result["ours_int8"][f"tokens_per_s_{b}"]
                                               / result["transformers"][f"tokens_per_s_{b}"])
        report["presets"][name] = result
    report["load_avg_1m_after"] = os.getloadavg()[0]
    print(json.dumps(report, indent=1, default=lambda x: round(x, 4) if isinstance(x, float) else str(x)))


if __name__ == "__main__":
    main()
