"""Training-step time of each optimizer on one preset, as a ratio to AdamW's, measured interleaved.

A busy machine's speed drifts over minutes, so separate runs compare the load as much as the optimizers; here
the optimizers take turns, round after round, on the same model shape and batch, and the median step time of
each is divided by AdamW's. Sophia's figure averages its Hessian steps (every optim.hessian_every) in.

    python bench/optim_step.py --preset tiny --rounds 3 --steps 10
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch

from engine.config import OPTIMIZERS, load_config
from engine.model.gpt import GPT
from engine.optim import build_optimizer, second_order, wants_hessian


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--optimizers", default=",".join(OPTIMIZERS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10, help="timed steps per optimizer per round")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    names = args.optimizers.split(",")
    cfg = load_config(overrides=[f"model.preset={args.preset}"])
    model_cfg = dataclasses.replace(cfg.model, vocab_size=cfg.tokenizer.vocab_size)
    b, t = cfg.run.batch_size, cfg.data.seq_len
    x = torch.randint(0, model_cfg.vocab_size, (b, t + 1), generator=torch.Generator().manual_seed(0))
    runs = {}
    for name in names:
        torch.manual_seed(0)
        model = GPT(model_cfg)
        optim_cfg = dataclasses.replace(cfg.optim, name=name)
        runs[name] = (model, build_optimizer(model, optim_cfg, torch.device("cpu")), [])

    def step(model, opt) -> None:
        hessian = wants_hessian(opt)
        with second_order(hessian):
            _, loss = model(x[:, :-1], x[:, 1:])
            loss.backward(create_graph=hessian)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    for model, opt, _ in runs.values():
        step(model, opt)                                    # warm-up: lazy state, allocator
    for _ in range(args.rounds):
        for model, opt, times in runs.values():
            start = time.perf_counter()
            for _ in range(args.steps):
                step(model, opt)
            times.append((time.perf_counter() - start) / args.steps)
    base = statistics.median(runs["adamw"][2]) if "adamw" in runs else None
    print(f"{'optimizer':<20}{'s/step':>10}{'tokens/s':>12}{'vs adamw':>10}")
    for name, (_, _, times) in runs.items():
        med = statistics.median(times)
        ratio = f"{base / med:.2f}x" if base else "-"
        print(f"{name:<20}{med:>10.3f}{b * t / med:>12,.0f}{ratio:>10}")


if __name__ == "__main__":
    main()
