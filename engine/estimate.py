"""Cost estimates before launch: parameters (exactly the model's count), FLOPs per token, tokens per step,
a rough memory figure (with each optimizer's state), the refusal when that figure exceeds the free memory
(which the caller measures), and the learning-rate schedule `lr_at` that the trainer follows and the studio draws.
Pure arithmetic on the config: no torch, so the studio can import it.
"""

from __future__ import annotations

import dataclasses
import math

from engine.config import GATED, Config, DataConfig, ModelConfig, OptimConfig, RunConfig

BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
GIB = 2**30


def param_count(m: ModelConfig, vocab_size: int | None = None) -> dict[str, int]:
    """Exactly GPT.num_params() ("total") and GPT.num_active_params() ("active": what one token passes through,
    less the E - k routed experts it is not sent to in each MoE layer): embeddings, attention, MLP or experts
    (router, E routed + S shared experts) and norms (a tied head counts once)."""
    v = vocab_size or m.vocab_size
    d, hd = m.d_model, m.head_dim
    attn = d * m.n_head * hd * 2 + d * m.n_kv_head * hd * 2          # q, o and k, v projections
    matrices = 3 if m.activation in GATED else 2
    mlp = d * m.ffn_dim * matrices
    norms = 2 * d + (2 * hd if m.qk_norm else 0)
    per_layer = attn + mlp + norms
    n_moe = sum(m.is_moe_layer(i) for i in range(m.n_layer))
    expert = d * m.expert_dim * matrices
    moe_ffn, inactive = 0, 0
    if m.moe is not None:
        moe_ffn = d * m.moe.num_experts + expert * (m.moe.num_experts + m.moe.shared_experts)  # router + experts
        inactive = expert * (m.moe.num_experts - m.moe.top_k)
    embedding = v * d
    head = 0 if m.tie_embeddings else v * d
    layers = m.n_layer * per_layer + n_moe * (moe_ffn - mlp)
    total = embedding + head + layers + d                           # + final norm
    active = total - n_moe * inactive
    return {"total": total, "non_embedding": total - embedding - head, "embedding": embedding + head,
            "per_layer": per_layer, "active": active, "active_non_embedding": active - embedding - head}


def lora_param_count(m: ModelConfig, rank: int, targets: list[str] | tuple[str, ...], token_rows: int = 0,
                     vocab_size: int | None = None, dora: bool = False) -> int:
    """Exactly the adapters engine/model/lora.py adds: rank x (in + out) per targeted Linear of every block
    (gate_proj exists only in gated MLPs; DoRA adds `out` magnitudes to each), rank x (vocab + d_model) for
    `embed`, plus d_model per trained token row (special and frequent tokens; twice with an untied head)."""
    if rank <= 0:
        return 0
    rows = token_rows * m.d_model * (1 if m.tie_embeddings else 2)
    rows += rank * ((vocab_size or m.vocab_size) + m.d_model) if "embed" in targets else 0
    d, q, kv, f = m.d_model, m.n_head * m.head_dim, m.n_kv_head * m.head_dim, m.ffn_dim
    shapes = {"q_proj": (d, q), "k_proj": (d, kv), "v_proj": (d, kv), "o_proj": (q, d),
              "up_proj": (d, f), "down_proj": (f, d)}
    if m.activation in ("swiglu", "geglu"):
        shapes["gate_proj"] = (d, f)
    return m.n_layer * sum(rank * sum(shapes[t]) + dora * shapes[t][1] for t in targets if t in shapes) + rows


def flops_per_token(m: ModelConfig, seq_len: int, vocab_size: int | None = None) -> int:
    """Training FLOPs per token (forward + backward = 3x forward): 6 N plus attention's 12 L T d, where N counts the
    parameters a token passes through (an MoE model's active ones)."""
    n = param_count(m, vocab_size)
    matmul_params = n["active"] - n["embedding"] + (vocab_size or m.vocab_size) * m.d_model  # the head is a matmul
    return 6 * matmul_params + 12 * m.n_layer * seq_len * m.d_model


def memory_bytes(cfg: Config, vocab_size: int | None = None, precision: str = "fp32") -> dict[str, int]:
    """Rough training memory: weights + grads + optimizer state (fp32) + activations of one micro-batch.
    With LoRA only the adapters have gradients and optimizer state; the frozen base is weights alone."""
    m = cfg.model
    n = param_count(m, vocab_size)["total"]
    adapters = lora_param_count(m, cfg.lora.rank, cfg.lora.targets, cfg.lora.token_rows, vocab_size, cfg.lora.dora)
    trained = adapters if adapters else n
    weights = 4 * (n + adapters)
    grads = 4 * trained
    # the blocks' adapters are matrices; the embedding's (low-rank and rows) train as embedding, with AdamW
    matrices = lora_param_count(m, cfg.lora.rank, [t for t in cfg.lora.targets if t != "embed"])
    optimizer = (optimizer_state_bytes(cfg.optim.name, adapters, matrices) if adapters
                 else optimizer_state_bytes(cfg.optim.name, n, matrix_params(m, vocab_size)))
    b, t, d = 1 if cfg.run.auto_batch else cfg.run.micro_batch, cfg.data.seq_len, m.d_model  # auto: the least
    act_bytes = BYTES.get(precision, 4)
    per_layer = b * t * (14 * d + 2 * m.ffn_dim * 2) * act_bytes            # inputs, norms, q/k/v, attn out, MLP
    n_moe = sum(m.is_moe_layer(i) for i in range(m.n_layer))
    moe_layer = per_layer
    if m.moe is not None:  # k gathered copies of each token, their hidden states, and the router's fp32 probabilities
        k, used = m.moe.top_k, m.moe.top_k + m.moe.shared_experts
        moe_layer = (b * t * ((14 + 2 * k) * d + 2 * m.expert_dim * used * 2) * act_bytes
                     + b * t * m.moe.num_experts * 12)
    if cfg.hardware.grad_checkpointing:
        per_layer = moe_layer = b * t * d * act_bytes
    logits = b * t * (vocab_size or m.vocab_size) * 4 * 3          # fp32 logits, their log-softmax and grad
    activations = (m.n_layer - n_moe) * per_layer + n_moe * moe_layer + logits
    if cfg.optim.name == "sophia":  # a Hessian step keeps the backward's graph for a second backward
        activations *= 2
    return {"weights": weights, "grads": grads, "optimizer": optimizer, "activations": activations,
            "total": weights + grads + optimizer + activations}


def matrix_params(m: ModelConfig, vocab_size: int | None = None) -> int:
    """Parameters in the blocks' 2-D weight matrices (what Muon updates): all but embeddings, head and norms."""
    n = param_count(m, vocab_size)
    norms = m.n_layer * (2 * m.d_model + (2 * m.head_dim if m.qk_norm else 0)) + m.d_model
    return n["non_embedding"] - norms


# fp32 tensors of optimizer state per parameter: AdamW's two moments; Lion's one momentum; schedule-free
# AdamW's z sequence and second moment; Sophia's momentum, Hessian moment and the latest Hessian estimate.
STATE_TENSORS = {"adamw": 2, "lion": 1, "schedulefree_adamw": 2, "sophia": 3}


def optimizer_state_bytes(name: str, n_params: int, n_matrix: int = 0) -> int:
    """Bytes of optimizer state. Muon keeps one momentum buffer per matrix and AdamW's two moments for the rest."""
    if name == "muon":
        return 4 * n_matrix + 8 * (n_params - n_matrix)
    return 4 * STATE_TENSORS.get(name, 2) * n_params


def lr_at(step: int, total_steps: int, cfg: OptimConfig) -> float:
    """Learning rate of optimizer step `step` (0-based) out of `total_steps`: optim.lr scaled by the schedule.

    Warm-up is linear, lr * (step + 1) / warmup, so the first step already moves. After it, with progress
    f in [0, 1] over the remaining steps and floor = lr * min_lr_ratio:
      cosine:   floor + (lr - floor) * (1 + cos(pi f)) / 2
      linear:   lr + (floor - lr) * f
      wsd:      lr until the last decay_fraction of the run, then linear from lr to floor over it
      constant: lr
    Each optimizer param group multiplies this by its own `lr_scale` (engine/optim.py)."""
    peak, floor = cfg.lr, cfg.lr * cfg.min_lr_ratio
    warmup = min(cfg.warmup_steps, max(total_steps - 1, 0))
    if step < warmup:
        return peak * (step + 1) / warmup
    if cfg.schedule == "constant":
        return peak
    if cfg.schedule == "wsd":
        decay_steps = max(1, int(total_steps * cfg.decay_fraction))
        decay_start = total_steps - decay_steps
        if step < decay_start:
            return peak
        frac = (step - decay_start) / decay_steps
        return peak + (floor - peak) * min(frac, 1.0)
    span = max(1, total_steps - warmup)
    frac = min((step - warmup) / span, 1.0)
    if cfg.schedule == "linear":
        return peak + (floor - peak) * frac
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * frac))


def lr_curve(cfg: OptimConfig, total_steps: int, points: int = 200) -> tuple[list[int], list[float]]:
    """(steps, lrs) at up to `points` evenly spread steps, always with the first and the last: what the studio draws."""
    if total_steps <= 0:
        return [], []
    stride = max(1, total_steps // points)
    decay_start = total_steps - max(1, int(total_steps * cfg.decay_fraction))
    corners = {0, cfg.warmup_steps - 1, cfg.warmup_steps, decay_start - 1, decay_start, total_steps - 1}
    steps = sorted({s for s in set(range(0, total_steps, stride)) | corners if 0 <= s < total_steps})
    return steps, [lr_at(s, total_steps, cfg) for s in steps]


def run_estimate(cfg: Config, vocab_size: int | None = None, precision: str = "fp32") -> dict[str, float]:
    """What the wizard shows beside the knobs."""
    v = vocab_size or cfg.model.vocab_size or cfg.tokenizer.vocab_size
    params = param_count(cfg.model, v)
    tokens_per_step = cfg.tokens_per_step
    return {
        "params": params["total"], "params_non_embedding": params["non_embedding"], "params_active": params["active"],
        "params_trainable": lora_param_count(cfg.model, cfg.lora.rank, cfg.lora.targets,
                                             cfg.lora.token_rows, v, cfg.lora.dora) or params["total"],
        "tokens_per_step": tokens_per_step, "total_tokens": tokens_per_step * cfg.run.max_steps,
        "flops_per_step": flops_per_token(cfg.model, cfg.data.seq_len, v) * tokens_per_step,
        "memory_bytes": memory_bytes(cfg, v, precision)["total"],
    }


# hardware.compile: auto compiles on the CPU only a run whose planned work (FLOPs over all its steps) repays the
# compile many times over. Measured (tiny preset, bf16, batch 16 x 256, 1 thread, AMD EPYC with AVX512-BF16): a
# cold compile costs ~55 CPU s (11 in this process, 44 in the C++ compiler) and saves 0.145 CPU s a step (0.435 ->
# 0.29), so it repays itself after ~380 steps, ~1.2e13 FLOPs (the saving scales with a step's FLOPs). The threshold
# is 8x that: the test suite's toy runs that plan 100000 steps (2.3e13 FLOPs) and are stopped after a few never
# compile, nor does the tiny preset's default 1000 steps (3.1e13); the small preset's 1000 (1.5e15) do.
CPU_COMPILE_MIN_FLOPS = 1e14
# A shape this workspace compiled before (engine/compile_record.py) reads its graphs back from inductor's on-disk
# caches (FX graph, AOT autograd): measured on the same machine and tiny shape, a warm compile cost ~4 CPU s against
# ~59 cold (bench/results/cpu_compile.md), repaid after ~28 steps (~9e11 FLOPs). With more than the same 8x margin
# (the suite's toy runs stay eager all the same: their fresh workspaces never compiled their shape):
CPU_COMPILE_WARM_MIN_FLOPS = 1e13


def cpu_compile_pays(run_flops: float | None, warm: bool = False) -> bool:
    """hardware.compile: auto's rule on a CPU (the engine applies it, the Hardware page shows it); `warm`: this
    workspace compiled the run's shape before and its cache still holds the graphs."""
    return run_flops is not None and run_flops >= (CPU_COMPILE_WARM_MIN_FLOPS if warm else CPU_COMPILE_MIN_FLOPS)


def cpu_compile_warm(workspace, cfg: Config, precision: str, vocab_size: int | None = None) -> bool:
    """Whether `workspace` compiled this run's shape before and its cache still holds the graphs (the record the
    engine writes after a compile, engine/compile_record.py): what the Hardware page asks before a launch."""
    from engine import compile_record  # torch-free, like this module
    key = compile_record.compile_key(cfg, precision, vocab_size)
    return compile_record.warm_record(workspace, key) is not None


def planned_flops(cfg: Config, vocab_size: int | None = None) -> float:
    """A run's training work: FLOPs per optimizer step times run.max_steps (what auto compile weighs on a CPU)."""
    return float(run_estimate(cfg, vocab_size)["flops_per_step"]) * cfg.run.max_steps


# ---------------------------------------------------------------------------------------------- time
ABSURD_SECONDS = 24 * 3600      # beyond a day on one machine, the wizard says so before launch


def eta_seconds(cfg: Config, flops_per_s: float, vocab_size: int | None = None) -> float | None:
    """Seconds of training (steps plus periodic evals) at a measured FLOP/s from `minigpt doctor --calibrate`.

    Excludes set-up (tokenizer training, pretokenizing) and checkpoint writes, which rarely dominate."""
    if not flops_per_s or flops_per_s <= 0:
        return None
    v = vocab_size or cfg.model.vocab_size or cfg.tokenizer.vocab_size
    per_token = flops_per_token(cfg.model, cfg.data.seq_len, v)
    train = per_token * cfg.tokens_per_step * cfg.run.max_steps
    evals = 1 + (cfg.run.max_steps // cfg.run.eval_every if cfg.run.eval_every else 0)
    eval_tokens = evals * cfg.run.eval_batches * cfg.run.micro_batch * cfg.data.seq_len
    return (train + per_token / 3 * eval_tokens) / flops_per_s        # an eval is a forward pass: a third


def human_duration(seconds: float) -> str:
    """'about 40 seconds', 'about 12 minutes', 'about 3.5 hours', 'about 4 days'."""
    if seconds < 90:
        return f"about {max(1, round(seconds))} seconds"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} minutes"
    if seconds < 48 * 3600:
        return f"about {seconds / 3600:.1f} hours"
    return f"about {seconds / 86400:,.1f} days"


def dominant_knob(cfg: Config, vocab_size: int | None = None, precision: str = "fp32") -> str:
    """The key most to blame for the memory figure: the one whose reset to its default saves the most.
    batch_size wins when nothing is above its default (a small machine, not an odd config)."""
    total = memory_bytes(cfg, vocab_size, precision)["total"]
    m, run, data = ModelConfig(), RunConfig(), DataConfig()
    vocab_key = "model.vocab_size" if cfg.model.vocab_size else "tokenizer.vocab_size"
    candidates = {
        "run.batch_size": dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, batch_size=run.batch_size)),
        "data.seq_len": dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, seq_len=min(data.seq_len,
                                                                                                cfg.data.seq_len))),
        "model.n_layer": dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, n_layer=m.n_layer)),
        "model.d_model": _with_width(cfg, m.d_model),
        "model.d_ff": dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, d_ff=0)),
    }
    saved = {key: total - memory_bytes(c, vocab_size, precision)["total"] for key, c in candidates.items()}
    vocab = vocab_size or cfg.model.vocab_size or cfg.tokenizer.vocab_size
    saved[vocab_key] = total - memory_bytes(cfg, min(vocab, 2048), precision)["total"]
    key, most = max(saved.items(), key=lambda kv: kv[1])
    return key if most > 0 else "run.batch_size"


def _with_width(cfg: Config, d_model: int) -> Config:
    """cfg with the default width (and its head layout), when the model is wider than that."""
    if cfg.model.d_model <= d_model:
        return cfg
    m = ModelConfig()
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, d_model=d_model, n_head=m.n_head,
                                                              n_kv_head=m.n_kv_head, d_ff=0))


def memory_refusal(cfg: Config, free_bytes: int, vocab_size: int | None = None, precision: str = "fp32",
                   where: str = "this machine") -> tuple[str, str] | None:
    """(message, hint) when the run's estimate exceeds `free_bytes`; None when it fits."""
    parts = memory_bytes(cfg, vocab_size, precision)
    if parts["total"] <= free_bytes:
        return None
    key = dominant_knob(cfg, vocab_size, precision)
    state = parts["weights"] + parts["grads"] + parts["optimizer"]
    message = (f"needs ~{parts['total'] / GIB:.1f} GiB, {where} has {free_bytes / GIB:.1f} GiB free; "
               f"lower {key}")
    hint = (f"weights, gradients and {cfg.optim.name} state take ~{state / GIB:.1f} GiB, activations of one "
            f"micro-batch ~{parts['activations'] / GIB:.1f} GiB")
    if key == "run.batch_size":
        hint += "; raise run.grad_accum to keep the tokens per step, or set hardware.grad_checkpointing=true"
    return message, hint


def generation_bytes(m: ModelConfig, rows: int, length: int, prefill_rows: int | None = None) -> int:
    """Rough memory of decoding `rows` sequences of up to `length` tokens, weights excluded (they are loaded by
    then): the fp32 KV cache plus one layer's copy while beams are reordered, about six fp32 vocabulary-sized
    buffers per row (logits, penalised, log-softmax, beam scores, top-k input) and the seen-token masks, and the
    prefill's activations and attention scores."""
    layer_cache = 2 * rows * m.n_kv_head * m.head_dim * length * 4
    per_row_vocab = m.vocab_size * (6 * 4 + 2)
    p = rows if prefill_rows is None else prefill_rows
    prefill = p * length * (8 * m.d_model + m.n_head * length) * 4
    return (m.n_layer + 1) * layer_cache + rows * per_row_vocab + prefill
