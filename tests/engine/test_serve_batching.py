"""Continuous batching: concurrent jobs are decoded together, join a running batch mid-flight, and each reply is the
one the same prompt gets alone; cancelling stops a job at its next token, whether running or still waiting."""

from __future__ import annotations

import threading
import time

import pytest
import torch
from inference_fixtures import *  # noqa: F403 - the toy session fixture

from engine.batching import Busy, Scheduler
from engine.generate import FastStep, SamplingParams


def prompts(toy, n: int) -> list[list[int]]:
    return [toy.tok.encode_chat([{"role": "user", "content": f"hello {i * 7}" + " more" * (i % 4)}],
                                add_generation_prompt=True)[0] for i in range(n)]


def run_all(sched: Scheduler, jobs_in: list[tuple[list[int], SamplingParams]], stagger: float = 0.0):
    jobs = []
    for prompt, params in jobs_in:
        jobs.append(sched.submit(prompt, params))
        time.sleep(stagger)
    for j in jobs:
        assert j.done.wait(60), "a job never finished"
    return jobs


def test_concurrent_jobs_are_decoded_together_and_match_their_solo_replies(toy):
    gen = toy.generator()
    ps = prompts(toy, 6)
    solo = [gen.generate([p], SamplingParams.greedy(20))[0] for p in ps]
    sched = Scheduler(gen, max_batch=8)
    try:
        jobs = run_all(sched, [(p, SamplingParams.greedy(20)) for p in ps])
        assert sched.peak_batch > 1
        assert [j.out for j in jobs] == solo
        assert all(j.reason in ("stop", "length") for j in jobs)
    finally:
        sched.close()


def test_late_arrivals_join_a_running_batch(toy):
    gen = toy.generator(stop_ids=[])          # no stop token: every reply runs its full length
    ps = prompts(toy, 4)
    solo = [gen.generate([p], SamplingParams.greedy(40))[0] for p in ps]
    seeded = SamplingParams(max_new_tokens=30, temperature=0.9, top_k=20, seed=5, repetition_penalty=1.3)
    solo_sampled = gen.generate([ps[0]], seeded)[0]
    sched = Scheduler(gen, max_batch=8)
    try:
        first = sched.submit(ps[0], SamplingParams.greedy(40))
        while len(first.out) < 3:
            time.sleep(0.001)
        later = run_all(sched, [(p, SamplingParams.greedy(40)) for p in ps[1:]]
                        + [(ps[0], SamplingParams(**vars(seeded)))], stagger=0.01)
        assert first.done.wait(60)
        assert [first.out] + [j.out for j in later[:3]] == solo
        assert later[3].out == solo_sampled    # a sampled, penalised row keeps its own RNG and seen set
        assert sched.peak_batch > 1
    finally:
        sched.close()


def test_cancel_stops_a_running_job_and_drops_a_waiting_one(toy):
    gen = toy.generator(stop_ids=[])
    p = prompts(toy, 1)[0]
    sched = Scheduler(gen, max_batch=1)       # serial: the second job waits behind the first
    try:
        seen = threading.Event()
        running = sched.submit(p, SamplingParams.greedy(10_000), on_token=lambda _t: seen.set())
        waiting = sched.submit(p, SamplingParams.greedy(5))
        assert seen.wait(30)
        waiting.cancel()
        assert waiting.done.wait(10) and waiting.reason == "cancelled" and waiting.out == []
        n = len(running.out)
        running.cancel()
        assert running.done.wait(10) and running.reason == "cancelled"
        assert len(running.out) < toy.model.cfg.max_seq_len and len(running.out) <= n + 2
    finally:
        sched.close()


def test_a_full_waiting_line_is_busy_and_close_ends_everything(toy):
    gen = toy.generator(stop_ids=[])
    p = prompts(toy, 1)[0]
    sched = Scheduler(gen, max_batch=1, max_waiting=2)
    try:
        jobs = [sched.submit(p, SamplingParams.greedy(10_000))]
        while not jobs[0].out:  # running: it has left the waiting line
            time.sleep(0.001)
        jobs += [sched.submit(p, SamplingParams.greedy(10_000)) for _ in range(2)]
        with pytest.raises(Busy):
            sched.submit(p, SamplingParams.greedy(1))
    finally:
        sched.close()
    assert not sched.thread.is_alive()
    assert all(j.done.is_set() and j.reason == "cancelled" for j in jobs)


def test_a_failing_step_ends_its_jobs_with_an_error_and_the_scheduler_lives_on(toy, monkeypatch):
    gen = toy.generator()
    p = prompts(toy, 1)[0]
    sched = Scheduler(gen, max_batch=4)
    try:
        monkeypatch.setattr(sched, "_decode", lambda: (_ for _ in ()).throw(RuntimeError("boom")))
        bad = sched.submit(p, SamplingParams.greedy(5))
        assert bad.done.wait(30) and bad.reason == "error" and "boom" in str(bad.error)
        monkeypatch.undo()
        good = sched.submit(p, SamplingParams.greedy(5))
        assert good.done.wait(30) and good.reason in ("stop", "length")
    finally:
        sched.close()


def test_per_row_positions_match_one_row_at_a_time(toy):
    model = toy.model
    fast = FastStep.for_model(model)
    a, b = prompts(toy, 2)[0][:5], prompts(toy, 2)[1][:9]
    with torch.inference_mode():
        caches = model.new_caches(2, 16)
        for row, q in enumerate((a, b)):
            views = [type(c)(c.k[row:row + 1], c.v[row:row + 1]) for c in caches]
            model(torch.tensor([q]), caches=views)
        tok = torch.tensor([3, 4])
        mask = (torch.arange(10)[None] <= torch.tensor([5, 9])[:, None])[:, None, None]
        got = fast(tok, caches, [5, 9], mask)
        for row, q in enumerate((a, b)):
            ref, _ = model(torch.tensor([q + [int(tok[row])]]))
            assert (ref[0, -1] - got[row]).abs().max().item() < 1e-4


def test_a_model_the_batched_step_cannot_take_is_served_one_reply_at_a_time(toy):
    import copy

    class Wrapped(torch.nn.Linear):  # what an adapter (LoRA) looks like from outside
        pass
    model = copy.deepcopy(toy.model)
    old = model.blocks[0].attn.q_proj
    model.blocks[0].attn.q_proj = Wrapped(old.in_features, old.out_features, bias=False)
    model.blocks[0].attn.q_proj.weight = old.weight
    gen = type(toy.generator())(model, [toy.tok.im_end_id, toy.tok.eot_id], toy.tok.pad_id, decode=toy.tok.decode)
    ps = prompts(toy, 3)
    solo = [gen.generate([p], SamplingParams.greedy(12))[0] for p in ps]
    sched = Scheduler(gen, max_batch=8)
    try:
        assert sched.max_batch == 1
        jobs = run_all(sched, [(p, SamplingParams.greedy(12)) for p in ps])
        assert [j.out for j in jobs] == solo
    finally:
        sched.close()
