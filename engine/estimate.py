"""Cost estimates before launch: parameters (exactly the model's count), FLOPs per token, tokens per step,
and a rough memory figure. Pure arithmetic on the config: no torch, so the studio can import it.
"""

from __future__ import annotations

from engine.config import Config, ModelConfig

BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}


def param_count(m: ModelConfig, vocab_size: int | None = None) -> dict[str, int]:
    """Exactly GPT.num_params(): embeddings, attention, MLP and norms (a tied head counts once)."""
    v = vocab_size or m.vocab_size
    d, hd = m.d_model, m.head_dim
    attn = d * m.n_head * hd * 2 + d * m.n_kv_head * hd * 2          # q, o and k, v projections
    mlp = d * m.ffn_dim * (3 if m.activation in ("swiglu", "geglu") else 2)
    norms = 2 * d + (2 * hd if m.qk_norm else 0)
    per_layer = attn + mlp + norms
    embedding = v * d
    head = 0 if m.tie_embeddings else v * d
    total = embedding + head + m.n_layer * per_layer + d            # + final norm
    return {"total": total, "non_embedding": total - embedding - head, "embedding": embedding + head,
            "per_layer": per_layer}


def flops_per_token(m: ModelConfig, seq_len: int, vocab_size: int | None = None) -> int:
    """Training FLOPs per token (forward + backward = 3x forward): 6 N plus attention's 12 L T d."""
    n = param_count(m, vocab_size)
    matmul_params = n["total"] - n["embedding"] + (vocab_size or m.vocab_size) * m.d_model  # the head is a matmul
    return 6 * matmul_params + 12 * m.n_layer * seq_len * m.d_model


def memory_bytes(cfg: Config, vocab_size: int | None = None, precision: str = "fp32") -> dict[str, int]:
    """Rough training memory: weights + grads + AdamW moments (fp32) + activations of one micro-batch."""
    m = cfg.model
    n = param_count(m, vocab_size)["total"]
    weights = 4 * n
    grads = 4 * n
    optimizer = 8 * n
    b, t, d = cfg.run.batch_size, cfg.data.seq_len, m.d_model
    act_bytes = BYTES.get(precision, 4)
    per_layer = b * t * (14 * d + 2 * m.ffn_dim * 2) * act_bytes            # inputs, norms, q/k/v, attn out, MLP
    if cfg.hardware.grad_checkpointing:
        per_layer = b * t * d * act_bytes
    logits = b * t * (vocab_size or m.vocab_size) * 4 * 2                  # fp32 logits and their grad
    activations = m.n_layer * per_layer + logits
    return {"weights": weights, "grads": grads, "optimizer": optimizer, "activations": activations,
            "total": weights + grads + optimizer + activations}


def run_estimate(cfg: Config, vocab_size: int | None = None, precision: str = "fp32") -> dict[str, float]:
    """What the wizard shows beside the knobs."""
    v = vocab_size or cfg.model.vocab_size or cfg.tokenizer.vocab_size
    params = param_count(cfg.model, v)
    tokens_per_step = cfg.tokens_per_step
    return {
        "params": params["total"], "params_non_embedding": params["non_embedding"],
        "tokens_per_step": tokens_per_step, "total_tokens": tokens_per_step * cfg.run.max_steps,
        "flops_per_step": flops_per_token(cfg.model, cfg.data.seq_len, v) * tokens_per_step,
        "memory_bytes": memory_bytes(cfg, v, precision)["total"],
    }


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
    eval_tokens = evals * cfg.run.eval_batches * cfg.run.batch_size * cfg.data.seq_len
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
