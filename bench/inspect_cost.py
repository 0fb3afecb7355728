"""What "Look inside" costs a chat: time to first token of replies with the panel closed (generate only) beside
replies with it open (each reply followed by an `inspect` of it, as the studio does), taken in turns on one
`minigpt serve --stdio` per preset, and how long the inspect itself takes. Random-init weights of each preset
(bench/serve.py's preset_checkpoint), greedy, fixed reply length.

    .venv/bin/python bench/inspect_cost.py [--presets tiny,small] [--rounds 10] [--new-tokens 32]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve import preset_checkpoint  # noqa: E402 - the shared random-init checkpoint maker

QUESTION = [{"role": "user", "content": "question 3: what is 3 + 9?"}]


class StdioServer:
    def __init__(self, ckpt: Path):
        self.proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", str(ckpt), "--stdio",
                                      "--device", "cpu"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.wait_for(lambda e: e["event"] == "ready")

    def send(self, **cmd) -> float:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return time.perf_counter()

    def wait_for(self, pred) -> tuple[dict, float]:
        for line in self.proc.stdout:
            ev = json.loads(line)
            if ev["event"] == "error":
                raise SystemExit(f"server error: {ev.get('message')}")
            if pred(ev):
                return ev, time.perf_counter()
        raise SystemExit("the server exited")

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(30)


def one_reply(server: StdioServer, req: int, new_tokens: int, look: bool) -> tuple[float, float | None]:
    """(time to first token, inspect time or None) of one reply."""
    t0 = server.send(cmd="generate", id=req, messages=QUESTION,
                     params={"max_new_tokens": new_tokens, "temperature": 0})
    _, t_first = server.wait_for(lambda e: e["event"] == "token" and e["id"] == req)
    server.wait_for(lambda e: e["event"] == "done" and e["id"] == req)
    if not look:
        return t_first - t0, None
    t1 = server.send(cmd="inspect", id=f"look-{req}", reply_id=req, head=None)
    _, t_done = server.wait_for(lambda e: e["event"] == "inspect" and e["id"] == f"look-{req}")
    return t_first - t0, t_done - t1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", default="tiny,small")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--new-tokens", type=int, default=32)
    args = p.parse_args()
    print("| preset | TTFT p50, panel closed | TTFT p50, panel open | ratio | inspect p50 | rounds |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets.split(","):
            server = StdioServer(preset_checkpoint(preset, Path(tmp) / preset))
            closed, opened, inspects = [], [], []
            one_reply(server, 0, 4, look=True)                         # warm-up
            for r in range(args.rounds):                                 # in turns, so load hits both alike
                closed.append(one_reply(server, 2 * r + 1, args.new_tokens, look=False)[0])
                ttft, took = one_reply(server, 2 * r + 2, args.new_tokens, look=True)
                opened.append(ttft)
                inspects.append(took)
            server.close()
            a, b = statistics.median(closed), statistics.median(opened)
            print(f"| {preset} | {a * 1000:.1f} ms | {b * 1000:.1f} ms | {b / a:.2f} | "
                  f"{statistics.median(inspects) * 1000:.1f} ms | {args.rounds} |")


if __name__ == "__main__":
    main()
