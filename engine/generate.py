"""Batched generation with a preallocated KV cache: greedy, temperature, top-k, top-p, min-p, repetition penalty,
beam search, stop tokens and stop strings, seeded sampling, streaming by callback or iterator.

The generator works on token ids and knows nothing about chat templates; callers render chats first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from engine.decode_graph import GraphedStep
from engine.errors import UserError
from engine.model.gpt import GPT, MLP, Attention, Block, KVCache, RMSNorm
from engine.model.moe import MoE, activate
from engine.model.quantize import is_int8_linear


class SamplingError(UserError, ValueError):
    """Impossible sampling settings (a ValueError too, so request handlers that catch ValueError report it)."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message, hint, kind="request")


@dataclass
class SamplingParams:
    max_new_tokens: int = 64
    temperature: float = 1.0          # 0 = greedy
    top_k: int = 0                    # 0 = off
    top_p: float = 1.0                # 1 = off
    min_p: float = 0.0                # 0 = off
    repetition_penalty: float = 1.0   # 1 = off
    seed: int | None = None
    stop_strings: list[str] = field(default_factory=list)
    stop_ids: list[int] = field(default_factory=list)   # stop tokens on top of the generator's own
    num_beams: int = 1                # > 1 = beam search (deterministic: needs temperature 0)
    length_penalty: float = 1.0       # beam scores are log-prob sums divided by length ** length_penalty

    @classmethod
    def greedy(cls, max_new_tokens: int = 64) -> SamplingParams:
        return cls(max_new_tokens=max_new_tokens, temperature=0.0)

    def validate(self) -> SamplingParams:
        """Raise SamplingError for settings that cannot work; returns self."""
        checks = [
            (self.max_new_tokens >= 0, "max_new_tokens", "must be >= 0"),
            (self.temperature >= 0, "temperature", "must be >= 0 (0 = greedy)"),
            (self.top_k >= 0, "top_k", "must be >= 0 (0 = off)"),
            (0 < self.top_p <= 1, "top_p", "must be in (0, 1]"),
            (0 <= self.min_p <= 1, "min_p", "must be in [0, 1]"),
            (self.repetition_penalty > 0, "repetition_penalty", "must be > 0 (1 = off)"),
            (self.num_beams >= 1, "num_beams", "must be >= 1"),
            (self.num_beams == 1 or self.temperature == 0, "num_beams",
             "beam search is deterministic; set temperature to 0 to use it"),
        ]
        for ok, name, why in checks:
            if not ok:
                raise SamplingError(f"{name}={getattr(self, name)!r} {why}", "see `minigpt generate --help`")
        return self

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Completion:
    ids: list[int]                    # new tokens, stop token excluded
    finish_reason: str                # "stop" (stop token or string), "length" or "cancelled"
    prompt_tokens: int


def filter_logits(logits: torch.Tensor, p: SamplingParams) -> torch.Tensor:
    """Apply top-k, top-p and min-p to (B, V) float logits by setting the rest to -inf."""
    if p.top_k and p.top_k < logits.size(-1):
        kth = torch.topk(logits, p.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if p.min_p > 0:
        probs = logits.softmax(-1)
        logits = logits.masked_fill(probs < p.min_p * probs.max(-1, keepdim=True).values, float("-inf"))
    if p.top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        drop = cum - sorted_logits.softmax(-1) > p.top_p   # keep the smallest set whose mass reaches top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits


def penalise_repeats(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """CTRL-style repetition penalty: seen (B, V) bool; positive logits divided, negative multiplied."""
    if penalty == 1.0:
        return logits
    scaled = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, scaled, logits)


class Generator:
    """Generates from a GPT. `autocast` is a zero-arg callable returning a context (the runtime's precision)."""

    def __init__(self, model: GPT, stop_ids: list[int], pad_id: int, decode: Callable[[list[int]], str] | None = None,
                 autocast: Callable[[], contextlib.AbstractContextManager] | None = None):
        self.model, self.stop_ids, self.pad_id = model, list(stop_ids), pad_id
        self.decode = decode
        self.autocast = autocast or contextlib.nullcontext
        self.graphs: dict[int, GraphedStep | None] = {}  # CUDA: the recorded decode step per batch size

    def graphed_step(self, batch: int, fast: FastStep | None, owner: Decoding) -> GraphedStep | None:
        """The CUDA-graph decode step for `batch` rows, reserved for `owner` until it ends; None where graphs do
        not apply (no CUDA, a model FastStep cannot run, a large batch) or another generation holds it."""
        if fast is None:
            return None
        if batch not in self.graphs:
            self.graphs[batch] = GraphedStep(fast, batch) if GraphedStep.applies_to(self.model, batch) else None
        step = self.graphs[batch]
        return step if step is not None and step.reserve(owner) else None

    @property
    def device(self) -> torch.device:
        return self.model.embed.weight.device

    def stream(self, prompts: list[list[int]], params: SamplingParams) -> Decoding:
        """An iterable of (row, token_id) as tokens are made; stop iterating to cancel. `.completions` after.

        Beam search yields each row's tokens only once its search is over.
        """
        params.validate()
        if any(len(p) == 0 for p in prompts):
            raise SamplingError("a prompt is empty; generation continues at least one token",
                                "give some text (or the chat template) to continue")
        if params.num_beams > 1:
            return BeamDecoding(self, prompts, params)
        return SampledDecoding(self, prompts, params)

    def complete(self, prompts: list[list[int]], params: SamplingParams,
                 on_tokens: Callable[[int, int], bool | None] | None = None) -> list[Completion]:
        """Continue each prompt; on_tokens(row, token_id) sees every new token and returning False cancels all."""
        run = self.stream(prompts, params)
        events = iter(run)
        try:
            for row, tok in events:
                if on_tokens is not None and on_tokens(row, tok) is False:
                    break
        finally:
            events.close()
        return run.completions

    def generate(self, prompts: list[list[int]], params: SamplingParams,
                 on_tokens: Callable[[int, int], bool | None] | None = None) -> list[list[int]]:
        """Continue each prompt. Returns the new ids per prompt (stop token excluded)."""
        return [c.ids for c in self.complete(prompts, params, on_tokens)]

    def decode_step(self, tokens: torch.Tensor, caches: list[KVCache], pos: int, mask: torch.Tensor | None = None,
                    fast: FastStep | None = None) -> torch.Tensor:
        """(B,) new tokens at position pos -> (B, V) logits; through `fast` (FastStep.for_model) when given."""
        if fast is not None and not torch.is_autocast_enabled(self.device.type):
            return fast(tokens, caches, pos, mask)
        logits, _ = self.model(tokens[:, None], mask=mask, caches=caches, pos=pos)
        return logits[:, -1, :]

    def ends_with_stop(self, ids: list[int], stops: list[str]) -> bool:
        if not stops or self.decode is None:
            return False
        tail = self.decode(ids[-16:])
        return any(s in tail for s in stops)


class Decoding:
    """One generation in progress. Iterating runs it; each model step runs under inference mode and autocast,
    entered per step so neither leaks into the caller's code between yielded tokens."""

    def __init__(self, gen: Generator, prompts: list[list[int]], params: SamplingParams):
        self.gen, self.prompts, self.params = gen, [list(p) for p in prompts], params
        self.out: list[list[int]] = [[] for _ in prompts]
        self.reason: list[str | None] = [None] * len(prompts)
        self.stop_ids = list(dict.fromkeys(gen.stop_ids + list(params.stop_ids)))
        self.fast = FastStep.for_model(gen.model)   # checked per run: LoRA or a dtype change may come in between
        self.graphed: GraphedStep | None = None

    @property
    def completions(self) -> list[Completion]:
        return [Completion(o, r or "cancelled", len(p)) for o, r, p in zip(self.out, self.reason, self.prompts,
                                                                            strict=True)]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        model = self.gen.model
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode(), self.gen.autocast():
                events = self.start()
            while events is not None:
                yield from events
                with torch.inference_mode(), self.gen.autocast():
                    events = self.step()
        finally:
            model.train(was_training)
            if self.graphed is not None:
                self.graphed.release(self)

    def budget(self) -> int:
        longest = max((len(p) for p in self.prompts), default=0)
        return min(self.params.max_new_tokens, self.gen.model.cfg.max_seq_len - longest)

    def start(self) -> list[tuple[int, int]] | None:
        raise NotImplementedError

    def step(self) -> list[tuple[int, int]] | None:
        """The next tokens as (row, token_id); None when every row is finished."""
        raise NotImplementedError


class SampledDecoding(Decoding):
    """Greedy or sampled decoding of a left-padded batch, one token per row per step."""

    def start(self):
        gen, model, p = self.gen, self.gen.model, self.params
        dev, B = gen.device, len(self.prompts)
        self.n_steps = self.budget()
        if B == 0 or self.n_steps <= 0:
            self.reason = ["length"] * B
            return None
        T = max(len(q) for q in self.prompts)
        self.T, self.t = T, 0
        ids = torch.full((B, T), gen.pad_id, dtype=torch.long, device=dev)
        self.valid = torch.ones((B, T + self.n_steps), dtype=torch.bool, device=dev)
        for i, q in enumerate(self.prompts):  # left-pad so every row's next token is at the same position
            ids[i, T - len(q):] = torch.tensor(q, dtype=torch.long, device=dev)
            self.valid[i, :T - len(q)] = False
        self.padded = any(len(q) < T for q in self.prompts)
        mask = None
        if self.padded:  # causal & real keys; a pad query sees itself so its row is never all -inf (NaN)
            causal = torch.ones(T, T, dtype=torch.bool, device=dev).tril()
            eye = torch.eye(T, dtype=torch.bool, device=dev)
            mask = ((causal & self.valid[:, None, :T]) | eye)[:, None]                  # (B, 1, T, T)
        self.rng = torch.Generator(device=dev)
        if p.seed is not None:
            self.rng.manual_seed(p.seed)
        else:
            self.rng.seed()
        self.seen = torch.zeros((B, model.cfg.vocab_size), dtype=torch.bool, device=dev)
        if p.repetition_penalty != 1.0:
            for i, q in enumerate(self.prompts):
                self.seen[i, torch.tensor(q, dtype=torch.long, device=dev)] = True
        self.stop = set(self.stop_ids)
        self.graphed = gen.graphed_step(B, self.fast, self)
        if self.graphed is not None:  # its own caches, of the model's full length, at fixed addresses
            self.graphed.prepare(self.valid)
            self.caches = self.graphed.caches
        else:
            self.caches = model.new_caches(B, T + self.n_steps)
        logits, _ = model(ids, mask=mask, caches=self.caches, pos=0, last_only=True)
        return self.pick(logits[:, -1, :])

    def step(self):
        if self.t >= self.n_steps or all(r is not None for r in self.reason):
            self.reason = [r or "length" for r in self.reason]
            return None
        pos = self.T + self.t - 1
        if self.graphed is not None:
            try:
                return self.pick(self.graphed(self.last, pos))
            except RuntimeError:  # the graph could not be recorded here: the same step, launched op by op
                self.gen.graphs[len(self.prompts)] = None
                self.graphed.release(self)
                self.graphed = None
        mask = self.valid[:, None, None, :pos + 1] if self.padded else None               # (B, 1, 1, S)
        return self.pick(self.gen.decode_step(self.last, self.caches, pos, mask, self.fast))

    def pick(self, logits: torch.Tensor) -> list[tuple[int, int]]:
        """Choose one token per row from (B, V) logits; record it and say which rows finished."""
        p, gen = self.params, self.gen
        logits = penalise_repeats(logits.float(), self.seen, p.repetition_penalty)
        if p.temperature <= 0:
            next_ids = logits.argmax(-1)
        else:
            probs = filter_logits(logits / p.temperature, p).softmax(-1)
            next_ids = torch.multinomial(probs, 1, generator=self.rng).squeeze(-1)       # (B,)
        self.t += 1
        events = []
        for i, tok in enumerate(next_ids.tolist()):  # the one host sync per step
            if self.reason[i] is not None:
                continue  # a finished row keeps a slot in the batch; what it computes is ignored
            if tok in self.stop:
                self.reason[i] = "stop"
                continue
            self.out[i].append(tok)
            events.append((i, tok))
            if gen.ends_with_stop(self.out[i], p.stop_strings):
                self.reason[i] = "stop"
        if p.repetition_penalty != 1.0:
            self.seen[torch.arange(len(self.prompts), device=self.seen.device), next_ids] = True
        self.last = next_ids
        return events


class BeamDecoding(Decoding):
    """Beam search, one prompt at a time with num_beams rows; a row's tokens are yielded when its search ends.

    Scores are log-prob sums (after any repetition penalty) divided by length ** length_penalty, lengths counting
    the stop token. Like Hugging Face's default, a search ends once num_beams hypotheses are finished and none of
    the running beams can beat the worst of them at its current length.
    """

    def start(self):
        self.row = 0
        return self.step()

    def step(self):
        if self.row >= len(self.prompts):
            return None
        i = self.row
        self.row += 1
        self.out[i], self.reason[i] = self.search(self.prompts[i])
        return [(i, tok) for tok in self.out[i]]

    def search(self, prompt: list[int]) -> tuple[list[int], str]:
        model, p, nb = self.gen.model, self.params, self.params.num_beams
        budget = min(p.max_new_tokens, model.cfg.max_seq_len - len(prompt))
        if budget <= 0:
            return [], "length"
        dev, V = self.gen.device, model.cfg.vocab_size
        stop = set(self.stop_ids)
        caches = model.new_caches(1, len(prompt) + budget)
        logits, _ = model(torch.tensor([prompt], device=dev), caches=caches, last_only=True)
        caches = [KVCache(c.k.repeat(nb, 1, 1, 1), c.v.repeat(nb, 1, 1, 1)) for c in caches]  # (nb, Hkv, S, D)
        logits = logits[:, -1].float().expand(nb, V)                                            # (nb, V)
        scores = torch.full((nb,), float("-inf"), device=dev)
        scores[0] = 0.0  # all beams start equal: expand only the first at step one
        seen = torch.zeros((nb, V), dtype=torch.bool, device=dev)
        if p.repetition_penalty != 1.0:
            seen[:, torch.tensor(prompt, device=dev)] = True
        beams: list[list[int]] = [[] for _ in range(nb)]
        finished: list[tuple[float, list[int], str]] = []   # (normalised score, tokens, reason), best first

        def norm(score: float, length: int) -> float:
            return score / max(length, 1) ** p.length_penalty

        for t in range(budget):
            logp = penalise_repeats(logits, seen, p.repetition_penalty).log_softmax(-1)       # (nb, V)
            top_scores, top_idx = (scores[:, None] + logp).view(-1).topk(min(2 * nb, logp.numel()))
            kept: list[tuple[int, int, float]] = []
            for rank, (s, idx) in enumerate(zip(top_scores.tolist(), top_idx.tolist(), strict=True)):
                if s == float("-inf") or len(kept) == nb:
                    break
                b, tok = divmod(idx, V)
                seq = beams[b] + [tok]
                if tok in stop or self.gen.ends_with_stop(seq, p.stop_strings):
                    if rank < nb:  # a finished candidate counts only if it ranks among the beams
                        finished.append((norm(s, len(seq)), beams[b] if tok in stop else seq, "stop"))
                else:
                    kept.append((b, tok, s))
            finished = sorted(finished, key=lambda f: -f[0])[:nb]
            best_running = max((norm(s, t + 1) for _, _, s in kept), default=float("-inf"))
            if not kept or (len(finished) == nb and finished[-1][0] >= best_running):
                break
            order = torch.tensor([b for b, _, _ in kept], device=dev)
            toks = torch.tensor([tok for _, tok, _ in kept], device=dev)
            beams = [beams[b] + [tok] for b, tok, _ in kept]
            scores = torch.tensor([s for _, _, s in kept], device=dev)
            if t == budget - 1:
                finished += [(norm(s, len(seq)), seq, "length") for seq, (_, _, s) in zip(beams, kept, strict=True)]
                break
            for c in caches:  # follow each surviving beam's history (rarely fewer than nb survive)
                c.k, c.v = c.k[order], c.v[order]
            seen = seen[order]
            seen[torch.arange(len(kept), device=dev), toks] = True
            logits = self.gen.decode_step(toks, caches, len(prompt) + t, fast=self.fast).float()
        _, best, reason = max(finished, key=lambda f: f[0])
        return best, reason


class FastStep:
    """One decode step (one new token per row) of a plain fp32 GPT without autocast: the model's own math, read
    from its weights, with fused kernels (F.rms_norm, SDPA's grouped-query mode) and no per-module call overhead,
    which is most of a token's time at these sizes on a CPU (tiny preset: ~2x faster than model(...)).

    Only for the exact classes of engine/model/gpt.py (and moe.py's MoE, run as its own module) with unwrapped
    nn.Linear and no hooks; anything else (LoRA, bf16 weights) goes through model(...); int8 layers (--quantize) are
    called as they are. test_generate checks both paths give the same logits.
    """

    @classmethod
    def for_model(cls, model: nn.Module) -> FastStep | None:
        return cls(model) if cls.applies_to(model) else None

    def __init__(self, model: GPT):
        self.model = model
        cos, sin = model.rope_cos, model.rope_sin                                   # (L, D/2)
        self.cos = torch.stack([cos, cos], 1)                                       # (L, 2, D/2)
        self.sin = torch.stack([-sin, sin], 1)  # x.view(..., 2, D/2) * cos + flipped * sin == rotate-half RoPE

    @staticmethod
    def applies_to(model: nn.Module) -> bool:
        if type(model) is not GPT or any(p.dtype != torch.float32 for p in model.parameters()):
            return False
        for m in model.modules():
            if m._forward_hooks or m._forward_pre_hooks or (isinstance(m, nn.Linear) and
                                                            (type(m) is not nn.Linear or m.bias is not None)):
                return False
            if is_int8_linear(m) and m.bias() is not None:
                return False
        return all(type(b) is Block and type(b.attn) is Attention and type(b.mlp) in (MLP, MoE) for b in model.blocks)

    def __call__(self, tokens: torch.Tensor, caches: list[KVCache], pos: int | list[int] | torch.Tensor,
                 mask: torch.Tensor | None):
        """pos: the position every row writes at, or one position per row (continuous batching: rows that joined
        at different times). Per-row positions attend over slots [0, max(pos)]; `mask` hides each row's others.
        A 0-d tensor pos is the static form a CUDA graph replays (engine/decode_graph.py): every shape stays the
        same from token to token, the keys are the whole cache, and `mask` (B, 1, 1, S) must hide slots > pos."""
        model, cfg = self.model, self.model.cfg
        B, H, Hkv, D = tokens.shape[0], cfg.n_head, cfg.n_kv_head, cfg.head_dim
        static = isinstance(pos, torch.Tensor)
        per_row = not static and not isinstance(pos, int)
        if per_row:
            at = torch.tensor(pos, dtype=torch.long, device=tokens.device)
            rows, span = torch.arange(B, device=tokens.device), max(pos) + 1
            cos, sin = self.cos[at][:, None], self.sin[at][:, None]                 # (B, 1, 2, D/2)
        elif static:  # index_select keeps the position on the device: no host sync inside a CUDA graph
            cos, sin = self.cos.index_select(0, pos.view(1))[0], self.sin.index_select(0, pos.view(1))[0]
        else:
            cos, sin = self.cos[pos], self.sin[pos]                                 # (2, D/2)
        x = F.embedding(tokens, model.embed.weight)                                 # (B, C)
        for block, cache in zip(model.blocks, caches, strict=True):
            a = block.attn
            h = rms(x, block.attn_norm)
            q = linear(h, a.q_proj).view(B, H, D)
            k = linear(h, a.k_proj).view(B, Hkv, D)
            v = linear(h, a.v_proj).view(B, Hkv, 1, D)
            if isinstance(a.q_norm, RMSNorm):
                q, k = rms(q, a.q_norm), rms(k, a.k_norm)
            q = (q.view(B, H, 2, -1) * cos + q.view(B, H, 2, -1).flip(-2) * sin).view(B, H, 1, D)
            k = (k.view(B, Hkv, 2, -1) * cos + k.view(B, Hkv, 2, -1).flip(-2) * sin).view(B, Hkv, 1, D)
            if per_row:
                cache.k[rows, :, at], cache.v[rows, :, at] = k[:, :, 0], v[:, :, 0]  # row b writes at pos[b]
                k, v = cache.k[:, :, :span], cache.v[:, :, :span]                   # (B, Hkv, span, D)
            elif static:
                cache.k.index_copy_(2, pos.view(1), k)
                cache.v.index_copy_(2, pos.view(1), v)
                k, v = cache.k, cache.v                                             # (B, Hkv, S, D)
            else:
                k, v = cache.write(pos, k, v)                                       # (B, Hkv, pos+1, D)
            if Hkv != H and not _SDPA_GQA:
                k, v = k.repeat_interleave(H // Hkv, dim=1), v.repeat_interleave(H // Hkv, dim=1)
            gqa = {"enable_gqa": True} if Hkv != H and _SDPA_GQA else {}
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, **gqa)     # (B, H, 1, D)
            x = x + linear(y.view(B, H * D), a.o_proj)
            x = x + mlp(rms(x, block.mlp_norm), block.mlp)
        return linear(rms(x, model.norm), model.lm_head)                  # (B, V)


_SDPA_GQA = tuple(int(v) for v in torch.__version__.split(".")[:2]) >= (2, 5)


def rms(x: torch.Tensor, norm: RMSNorm) -> torch.Tensor:
    return F.rms_norm(x, (x.shape[-1],), norm.weight, norm.eps)


def linear(h: torch.Tensor, m: nn.Module) -> torch.Tensor:
    """h @ W^T of a bias-free projection: its weight read directly, or an int8 layer (--quantize) called."""
    return F.linear(h, m.weight) if type(m) is nn.Linear else m(h)


def mlp(h: torch.Tensor, m: MLP | MoE) -> torch.Tensor:
    if type(m) is MoE:  # routing is per token, so each row's new token is routed on its own
        return m(h)[0]
    gate = linear(h, m.gate_proj) if m.gate_proj is not None else None
    return linear(activate(m.activation, gate, linear(h, m.up_proj)), m.down_proj)


def trim_at_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    """Text up to the first stop string (excluded), and whether one was found."""
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)
