"""Continuous batching for the chat servers: one thread owns the model and decodes every running reply together.

A request that arrives while others decode is prefilled into a free row of a shared KV cache and joins at the next
decode step; a finished or cancelled row leaves at once. Rows sit at different positions, so the decode step is
FastStep with one position per row. Callers hand in callbacks that run on the scheduler thread and must not block:
the generator never waits on a client. Knows nothing about HTTP, stdio or chat templates.
"""

from __future__ import annotations

import collections
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from engine.generate import FastStep, Generator, SamplingParams, filter_logits, penalise_repeats
from engine.model.gpt import KVCache


class Busy(Exception):
    """The waiting line is full (or the scheduler is closing): the caller answers 'try again'."""


@dataclass(eq=False)
class Job:
    """One reply. on_token(token_id) and on_done(job) are called on the scheduler thread and must return quickly."""

    prompt: list[int]
    params: SamplingParams
    on_token: Callable[[int], None] = lambda _tok: None
    on_done: Callable[[Job], None] = lambda _job: None
    out: list[int] = field(default_factory=list)
    reason: str | None = None          # stop | length | cancelled | error
    error: BaseException | None = None
    submitted: float = field(default_factory=time.perf_counter)
    first_token_at: float | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)   # set just before on_done runs
    scheduler: Scheduler | None = None

    def cancel(self) -> None:
        """Stop this reply before its next token (or drop it from the waiting line)."""
        self.cancelled.set()
        if self.scheduler is not None:
            self.scheduler.wake()


class Row:
    """A running job's decoding state: its KV cache row, next position, sampling RNG and seen-token set."""

    def __init__(self, job: Job, budget: int, stops: set[int], device: torch.device, vocab: int):
        self.job, self.budget, self.stops = job, budget, stops
        self.pos = len(job.prompt)   # where the next fed token is written
        self.last = 0
        p = job.params
        self.rng = torch.Generator(device=device)
        if p.seed is not None:
            self.rng.manual_seed(p.seed)
        else:
            self.rng.seed()
        self.seen = None
        if p.repetition_penalty != 1.0:
            self.seen = torch.zeros((1, vocab), dtype=torch.bool, device=device)
            self.seen[0, torch.tensor(job.prompt, dtype=torch.long, device=device)] = True

    @property
    def plain_greedy(self) -> bool:
        return self.job.params.temperature <= 0 and self.seen is None


class Scheduler:
    """Runs jobs on one thread, up to max_batch at once (1 = strictly one after another, the serial baseline).

    Models FastStep cannot step row by row (MoE, adapters, low-precision weights) are served one job at a time
    through the Generator instead. Decoding here is fp32 without autocast: the same numbers as a solo fp32 reply.
    """

    def __init__(self, gen: Generator, max_batch: int = 16, max_waiting: int = 64):
        self.gen, self.model = gen, gen.model
        self.fast = FastStep.for_model(self.model)
        self.max_batch = max(1, max_batch) if self.fast is not None else 1
        self.max_waiting = max_waiting
        self.waiting: collections.deque[Job] = collections.deque()
        self.rows: list[Row] = []
        self.caches: list[KVCache] | None = None
        self.peak_batch = 0              # the most rows decoded in one step since start (tests and benches read it)
        self._cv = threading.Condition()
        self._closing = False
        self.thread = threading.Thread(target=self._run, name="minigpt-batch", daemon=True)
        self.thread.start()

    # ---------------------------------------------------------------- caller side (any thread)
    def submit(self, prompt: list[int], params: SamplingParams, on_token: Callable[[int], None] | None = None,
               on_done: Callable[[Job], None] | None = None) -> Job:
        params.validate()
        job = Job(list(prompt), params, scheduler=self)
        if on_token is not None:
            job.on_token = on_token
        if on_done is not None:
            job.on_done = on_done
        with self._cv:
            if self._closing:
                raise Busy("the server is shutting down")
            if len(self.waiting) >= self.max_waiting:
                raise Busy(f"{len(self.waiting)} requests are already waiting")
            self.waiting.append(job)
            self._cv.notify()
        return job

    def wake(self) -> None:
        with self._cv:
            self._cv.notify()

    def close(self, timeout: float = 30) -> None:
        """Cancel everything (each job's on_done still runs) and join the thread."""
        with self._cv:
            self._closing = True
            for job in self.waiting:
                job.cancelled.set()
            for row in self.rows:
                row.job.cancelled.set()
            self._cv.notify()
        if self.thread is not threading.current_thread():
            self.thread.join(timeout)

    # ---------------------------------------------------------------- scheduler thread
    def _run(self) -> None:
        with torch.inference_mode():
            while True:
                with self._cv:
                    while not (self._closing or self.waiting or self.rows):
                        self._cv.wait()
                    admitted = []
                    while self.waiting and len(self.rows) + len(admitted) < self.max_batch:
                        admitted.append(self.waiting.popleft())
                    if self._closing and not admitted and not self.rows and not self.waiting:
                        return
                for job in admitted:
                    self._guard([job], lambda j=job: self._admit(j))
                self._retire()
                if self.rows:
                    self._guard([r.job for r in self.rows], self._decode)
                    self._retire()

    def _guard(self, jobs: list[Job], fn: Callable[[], None]) -> None:
        """A failure ends the jobs involved with reason 'error'; the scheduler itself keeps serving."""
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - reported to each caller through its job
            print(f"generation failed: {type(e).__name__}: {e}", file=sys.stderr)
            for job in jobs:
                job.error, job.reason = e, "error"
            self._retire()
            for job in jobs:  # those that never got a row
                if not job.done.is_set():
                    self._finish(job, "error")

    def _finish(self, job: Job, reason: str) -> None:
        if job.done.is_set():
            return
        job.reason = job.reason or reason
        job.done.set()
        try:
            job.on_done(job)
        except Exception as e:  # noqa: BLE001 - a caller's bug must not end the scheduler
            print(f"on_done failed: {type(e).__name__}: {e}", file=sys.stderr)

    def _emit(self, row: Row, tok: int) -> None:
        job = row.job
        if tok in row.stops:
            job.reason = "stop"
            return
        job.out.append(tok)
        if job.first_token_at is None:
            job.first_token_at = time.perf_counter()
        try:
            job.on_token(tok)
        except Exception as e:  # noqa: BLE001
            print(f"on_token failed: {type(e).__name__}: {e}", file=sys.stderr)
            job.cancelled.set()
        if self.gen.ends_with_stop(job.out, job.params.stop_strings):
            job.reason = "stop"
        elif len(job.out) >= row.budget:
            job.reason = "length"

    def _admit(self, job: Job) -> None:
        if job.cancelled.is_set():
            return self._finish(job, "cancelled")
        cfg = self.model.cfg
        budget = min(job.params.max_new_tokens, cfg.max_seq_len - len(job.prompt))
        if not job.prompt or budget <= 0:
            return self._finish(job, "length")
        stops = set(self.gen.stop_ids) | set(job.params.stop_ids)
        if self.fast is None or job.params.num_beams > 1:
            return self._solo(job)
        row = Row(job, budget, stops, self.gen.device, cfg.vocab_size)
        b = len(self.rows)
        self._ensure_capacity(b + 1)
        views = [KVCache(c.k[b:b + 1], c.v[b:b + 1]) for c in self.caches]
        ids = torch.tensor([job.prompt], dtype=torch.long, device=self.gen.device)
        logits, _ = self.model(ids, caches=views, pos=0, last_only=True)
        self.rows.append(row)
        self._pick([row], logits[:, -1, :])

    def _solo(self, job: Job) -> None:
        """One job through the Generator (models FastStep cannot batch row by row, or beam search)."""
        def on_token(_row: int, tok: int):
            if job.first_token_at is None:
                job.first_token_at = time.perf_counter()
            job.out.append(tok)
            job.on_token(tok)
            return not (job.cancelled.is_set() or self._closing)
        c = self.gen.complete([job.prompt], job.params, on_tokens=on_token)[0]
        job.out = c.ids
        self._finish(job, "cancelled" if job.cancelled.is_set() else c.finish_reason)

    def _ensure_capacity(self, n: int) -> None:
        have = 0 if self.caches is None else self.caches[0].k.shape[0]
        if n <= have:
            return
        size = min(self.max_batch, max(4, 2 * have, n))
        fresh = self.model.new_caches(size, self.model.cfg.max_seq_len, dtype=torch.float32)
        for old, new in zip(self.caches or [], fresh, strict=False):
            new.k[:have], new.v[:have] = old.k, old.v
        self.caches = fresh

    def _decode(self) -> None:
        rows, n = self.rows, len(self.rows)
        self.peak_batch = max(self.peak_batch, n)
        tokens = torch.tensor([r.last for r in rows], dtype=torch.long, device=self.gen.device)
        pos = [r.pos for r in rows]
        views = [KVCache(c.k[:n], c.v[:n]) for c in self.caches]
        mask = None
        if min(pos) != max(pos):  # rows at different positions: each sees only its own slots 0..pos
            at = torch.tensor(pos, device=self.gen.device)
            mask = (torch.arange(max(pos) + 1, device=self.gen.device)[None] <= at[:, None])[:, None, None]
        logits = self.fast(tokens, views, pos if n > 1 else pos[0], mask)                # (n, V)
        for r in rows:
            r.pos += 1
        self._pick(rows, logits)

    def _pick(self, rows: list[Row], logits: torch.Tensor) -> None:
        """One token per row from (n, V) logits, sampled the way SampledDecoding.pick does for a lone prompt."""
        logits = logits.float()
        greedy = logits.argmax(-1).tolist()  # the one host sync per step for greedy rows
        for i, row in enumerate(rows):
            p = row.job.params
            if row.plain_greedy:
                tok = greedy[i]
            else:
                lg = logits[i:i + 1]
                if row.seen is not None:
                    lg = penalise_repeats(lg, row.seen, p.repetition_penalty)
                if p.temperature <= 0:
                    tok = int(lg.argmax(-1))
                else:
                    probs = filter_logits(lg / p.temperature, p).softmax(-1)
                    tok = int(torch.multinomial(probs, 1, generator=row.rng))
                if row.seen is not None:
                    row.seen[0, tok] = True
            row.last = tok
            self._emit(row, tok)

    def _retire(self) -> None:
        """Drop finished and cancelled rows (their on_done runs) and cancelled waiting jobs, keeping rows packed."""
        closing = self._closing
        b = 0
        while b < len(self.rows):
            job = self.rows[b].job
            if job.cancelled.is_set() or closing:
                job.reason = job.reason or "cancelled"
            if job.reason is None:
                b += 1
                continue
            last = len(self.rows) - 1
            if b != last:  # move the last row into the freed slot so rows 0..n-1 stay contiguous
                span = self.rows[last].pos + 1
                for c in self.caches:
                    c.k[b, :, :span], c.v[b, :, :span] = c.k[last, :, :span], c.v[last, :, :span]
                self.rows[b] = self.rows[last]
            self.rows.pop()
            self._finish(job, job.reason)
        with self._cv:
            gone = [j for j in self.waiting if j.cancelled.is_set()]
            for j in gone:
                self.waiting.remove(j)
        for j in gone:
            self._finish(j, "cancelled")
