"""The `model:` section: the decoder's shape (width, depth, heads, MLP type, RoPE, init)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.config_base import _require, knob


@dataclass(kw_only=True)
class ModelConfig:
    preset: str | None = knob(None, "Model preset this shape came from (presets/models/<name>.yaml).")
    vocab_size: int = knob(0, "Vocabulary size; 0 takes it from the tokenizer.")
    d_model: int = knob(128, "Width of the residual stream (embedding size).")
    n_layer: int = knob(4, "Number of transformer blocks.")
    n_head: int = knob(4, "Attention heads; must divide d_model.")
    n_kv_head: int = knob(2, "Key/value heads for grouped-query attention; must divide n_head (= n_head: plain MHA).")
    d_ff: int = knob(0, "Hidden size of the MLP; 0 picks 8/3 x d_model (gated) or 4 x d_model (gelu), rounded to 32.")
    max_seq_len: int = knob(256, "Longest sequence the model is built for (RoPE tables and KV cache).")
    rope_theta: float = knob(10000.0, "RoPE base frequency; larger values suit longer contexts.")
    activation: str = knob("swiglu", "MLP type: swiglu (Llama), geglu, or gelu (GPT-2 style, not gated).")
    qk_norm: bool = knob(False, "RMS-normalise queries and keys per head before attention (steadier at high lr).")
    tie_embeddings: bool = knob(True, "Share the token embedding with the output head (saves vocab x d_model params).")
    norm_eps: float = knob(1e-5, "Epsilon inside RMSNorm.")
    dropout: float = knob(0.0, "Dropout on attention and residual outputs; 0 is best for small data-rich runs.")
    init_std: float = knob(0.02, "Std of the normal init; residual projections are scaled by 1/sqrt(2 n_layer).")

    def __post_init__(self) -> None:
        for name in ("d_model", "n_layer", "n_head", "n_kv_head", "max_seq_len"):
            _require(getattr(self, name) > 0, f"model.{name}", f"must be positive, got {getattr(self, name)}")
        _require(self.vocab_size >= 0, "model.vocab_size", "must be >= 0 (0 = from the tokenizer)")
        _require(self.d_ff >= 0, "model.d_ff", "must be >= 0 (0 = automatic)")
        _require(self.d_model % self.n_head == 0, "model.n_head",
                 f"{self.n_head} heads do not divide d_model {self.d_model}",
                 "pick n_head so d_model / n_head is whole")
        _require(self.n_head % self.n_kv_head == 0, "model.n_kv_head",
                 f"{self.n_kv_head} kv heads do not divide n_head {self.n_head}",
                 "use a divisor of n_head, e.g. 1 or 2")
        _require((self.d_model // self.n_head) % 2 == 0, "model.n_head",
                 f"head size {self.d_model // self.n_head} is odd; RoPE needs an even head size")
        _require(self.activation in ("swiglu", "geglu", "gelu"), "model.activation",
                 f"unknown activation {self.activation!r}", "use swiglu, geglu or gelu")
        _require(self.rope_theta > 0, "model.rope_theta", "must be positive")
        _require(0.0 <= self.dropout < 1.0, "model.dropout", "must be in [0, 1)")
        _require(self.init_std > 0, "model.init_std", "must be positive")
        _require(0 < self.norm_eps < 1, "model.norm_eps", "must be in (0, 1), e.g. 1e-5")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def ffn_dim(self) -> int:
        if self.d_ff:
            return self.d_ff
        hidden = 4 * self.d_model if self.activation == "gelu" else int(8 * self.d_model / 3)
        return (hidden + 31) // 32 * 32
