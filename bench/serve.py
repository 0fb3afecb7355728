"""Chat-server latency under concurrency: N clients stream one chat completion each from `minigpt serve --http` at
the same moment; p50/p99 time to first token and total time per client, serial (--max-batch 1: one reply at a time)
beside batched (continuous batching), for N = 1, 8 and 20, the median of --repeats rounds taken in turns. The servers
are separate processes on random-init weights of a model preset (stop tokens made unlikeliest: every reply is
--new-tokens long); greedy.

    .venv/bin/python bench/serve.py [--preset tiny] [--clients 1,8,20] [--new-tokens 64] [--device cpu] [--repeats 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch
import yaml

from engine.checkpoint import save_checkpoint
from engine.config import PRESETS_DIR, ModelConfig
from engine.model.gpt import GPT
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
    with torch.no_grad():  # a zero logit never wins against thousands of random ones: replies run their full length
        model.lm_head.weight[[tok.im_end_id, tok.eot_id, tok.im_start_id]] = 0.0
    return save_checkpoint(root / "checkpoints", 1, model, cfg, tok.to_json(), None, {"stage": "sft"})


def start_server(ckpt: Path, device: str, max_batch: int, threads: int | None) -> tuple[subprocess.Popen, tuple]:
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", str(ckpt), "--http", "127.0.0.1:0",
                             "--device", device, "--max-batch", str(max_batch)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env)
    for line in proc.stderr:
        if found := re.search(r"at http://([\d.]+):(\d+)/v1", line):
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep draining its log
            return proc, (found[1], int(found[2]))
    raise SystemExit(f"the server did not start (exit {proc.wait()})")


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
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads of each server")
    ap.add_argument("--repeats", type=int, default=3, help="rounds per setting; the median one is reported")
    args = ap.parse_args()
    counts = [int(c) for c in args.clients.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = preset_checkpoint(args.preset, Path(tmp))
        servers = {"serial": start_server(ckpt, args.device, 1, args.threads),
                   "batched": start_server(ckpt, args.device, max(counts), args.threads)}
        try:
            for _, address in servers.values():
                round_of(address, 2, 8)  # warm-up
            for n in counts:
                runs: dict[str, list] = {mode: [] for mode in servers}
                for _ in range(args.repeats):  # in turns, so load from other processes hits both alike
                    for mode, (_, address) in servers.items():
                        runs[mode].append(round_of(address, n, args.new_tokens))
                row = {"clients": n}
                for mode, rounds in runs.items():  # the round with the median overall time
                    row[mode] = sorted(rounds, key=lambda r: r["wall"])[len(rounds) // 2]
                rows.append(row)
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(30)
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
