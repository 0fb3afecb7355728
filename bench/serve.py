"""Chat-server latency under concurrency: N clients stream one chat completion each from `serve --http` at the same
moment; p50/p99 time to first token and total time per client, serial (one reply at a time) beside batched
(continuous batching), for N = 1, 8 and 20. Random-init weights of a model preset; greedy, fixed reply length.

    .venv/bin/python bench/serve.py [--preset tiny] [--clients 1,8,20] [--new-tokens 64] [--device cpu] [--threads N]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import torch
import yaml

from engine.checkpoint import save_checkpoint
from engine.config import PRESETS_DIR, ModelConfig
from engine.inference import load_for_inference
from engine.model.gpt import GPT
from engine.serve_http import make_server
from engine.tokenizer import train_tokenizer


def preset_checkpoint(name: str, root: Path) -> Path:
    """A checkpoint of the preset's shape with random weights and a small tokenizer trained here."""
    doc = yaml.safe_load((PRESETS_DIR / "models" / f"{name}.yaml").read_text())
    texts = [f"<|im_start|>user\nquestion {i}: what is {i} + {i * 3}?<|im_end|>\n<|im_start|>assistant\n"
             f"the answer is {i * 4}.<|im_end|>\n" for i in range(400)]
    tok = train_tokenizer(texts, vocab_size=doc.get("tokenizer", {}).get("vocab_size", 2048), min_frequency=1)
    cfg = ModelConfig(**{**doc["model"], "vocab_size": max(tok.vocab_size, 256)})
    torch.manual_seed(0)
    model = GPT(cfg).eval()
    return save_checkpoint(root / "checkpoints", 1, model, cfg, tok.to_json(), None, {"stage": "sft"})


def one_client(address, i: int, new_tokens: int, start: threading.Barrier, out: list) -> None:
    body = json.dumps({"messages": [{"role": "user", "content": f"question {i}: what is {i} + {i * 3}?"}],
                       "max_tokens": new_tokens, "temperature": 0, "stream": True})
    conn = http.client.HTTPConnection(*address, timeout=600)
    start.wait()
    t0 = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    first = None
    for line in resp:
        if line.startswith(b"data: [DONE]"):
            break
        if first is None and line.startswith(b"data: {"):
            choices = json.loads(line[6:]).get("choices") or [{}]
            if choices[0].get("delta", {}).get("content"):
                first = time.perf_counter() - t0
    total = time.perf_counter() - t0
    conn.close()
    out.append((first if first is not None else total, total))


def round_of(address, n: int, new_tokens: int) -> dict:
    results: list = []
    start = threading.Barrier(n)
    threads = [threading.Thread(target=one_client, args=(address, i, new_tokens, start, results)) for i in range(n)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ttft, total = sorted(r[0] for r in results), sorted(r[1] for r in results)

    def pct(xs, q):
        return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]
    return {"ttft_p50": statistics.median(ttft), "ttft_p99": pct(ttft, 0.99), "total_p50": statistics.median(total),
            "total_p99": pct(total, 0.99), "wall": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--clients", default="1,8,20")
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    counts = [int(c) for c in args.clients.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        lm = load_for_inference(preset_checkpoint(args.preset, Path(tmp)), args.device)
        lm.generator.stop_ids = []  # random weights: every reply runs its full length, the same in both modes
        server = make_server(lm, "127.0.0.1", 0, max_batch=max(counts))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        round_of(server.server_address, 2, 8)  # warm-up
        rows = []
        for n in counts:
            row = {"clients": n}
            for mode, batch in (("serial", 1), ("batched", max(counts))):
                server.scheduler.max_batch = batch
                row[mode] = round_of(server.server_address, n, args.new_tokens)
            row["peak_batch"] = server.scheduler.peak_batch
            rows.append(row)
        server.shutdown()
        server.server_close()
    print(f"preset {args.preset} on {args.device}, {args.new_tokens} new tokens per reply, greedy; seconds")
    print(f"{'clients':>7} | {'mode':>7} | {'ttft p50':>8} {'ttft p99':>8} | {'total p50':>9} {'total p99':>9} | "
          f"{'all done':>8}")
    for row in rows:
        for mode in ("serial", "batched"):
            r = row[mode]
            print(f"{row['clients']:>7} | {mode:>7} | {r['ttft_p50']:8.3f} {r['ttft_p99']:8.3f} | "
                  f"{r['total_p50']:9.3f} {r['total_p99']:9.3f} | {r['wall']:8.3f}")
        s, b = row["serial"], row["batched"]
        print(f"{'':>7} | {'ratio':>7} | serial/batched: ttft p50 {s['ttft_p50'] / b['ttft_p50']:.1f}x, "
              f"total p99 {s['total_p99'] / b['total_p99']:.1f}x, all done {s['wall'] / b['wall']:.1f}x")
    print(json.dumps({"preset": args.preset, "device": args.device, "new_tokens": args.new_tokens, "rows": rows}))


if __name__ == "__main__":
    main()
