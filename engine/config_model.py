"""The `model:` section: the decoder's shape (width, depth, heads, MLP type, RoPE, init), and its optional nested
`model.moe:` section (mixture-of-experts feed-forward; absent = dense)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.config_base import _require, knob

ACTIVATIONS = ("swiglu", "geglu", "gelu", "relu2")
GATED = ("swiglu", "geglu")


@dataclass(kw_only=True)
class MoEConfig:
    num_experts: int = knob(8, "Routed experts per MoE layer (each a feed-forward of the MLP's type).")
    top_k: int = knob(2, "Experts each token is routed to; their weights are renormalised to sum to 1.")
    shared_experts: int = knob(0, "Experts every token passes through besides its top_k routed ones (0 = none).")
    every_n_layers: int = knob(1, "Make every n-th block MoE (blocks n-1, 2n-1, ...); 1 = every block.")
    aux_loss_coef: float = knob(0.01, "Weight of the load-balancing loss E * sum_i f_i P_i (1.0 when balanced).")
    z_loss_coef: float = knob(0.001, "Weight of the router z-loss mean(logsumexp(router logits)^2).")

    def __post_init__(self) -> None:
        for name in ("num_experts", "top_k", "every_n_layers"):
            _require(getattr(self, name) > 0, f"model.moe.{name}", f"must be positive, got {getattr(self, name)}")
        _require(self.top_k <= self.num_experts, "model.moe.top_k",
                 f"{self.top_k} experts per token, but model.moe.num_experts is {self.num_experts}",
                 "pick top_k <= num_experts (2 is usual)")
        _require(self.shared_experts >= 0, "model.moe.shared_experts", "must be >= 0")
        for name in ("aux_loss_coef", "z_loss_coef"):
            _require(getattr(self, name) >= 0, f"model.moe.{name}", "must be >= 0 (0 = off)")


@dataclass(kw_only=True)
class ModelConfig:
    preset: str | None = knob(None, "Model preset this shape came from (presets/models/<name>.yaml).")
    vocab_size: int = knob(0, "Vocabulary size; 0 takes it from the tokenizer.")
    d_model: int = knob(128, "Width of the residual stream (embedding size).")
    n_layer: int = knob(4, "Number of transformer blocks.")
    n_head: int = knob(4, "Attention heads; must divide d_model.")
    n_kv_head: int = knob(2, "Key/value heads for grouped-query attention; must divide n_head (= n_head: plain MHA).")
    d_ff: int = knob(0, "Hidden size of the MLP (and of each expert); 0 picks 8/3 x d_model (gated) or 4 x d_model "
                        "(gelu, relu2), rounded to 32, and splits it among the experts a token uses under MoE.")
    max_seq_len: int = knob(256, "Longest sequence the model is built for (RoPE tables and KV cache).")
    rope_theta: float = knob(10000.0, "RoPE base frequency; larger values suit longer contexts.")
    activation: str = knob("swiglu", "MLP type: swiglu (Llama), geglu, gelu (GPT-2 style) or relu2 (squared ReLU); "
                                     "the last two are not gated and get a wider hidden size.")
    qk_norm: bool = knob(False, "RMS-normalise queries and keys per head before attention (steadier at high lr).")
    tie_embeddings: bool = knob(True, "Share the token embedding with the output head (saves vocab x d_model params).")
    norm_eps: float = knob(1e-5, "Epsilon inside RMSNorm.")
    dropout: float = knob(0.0, "Dropout on attention and residual outputs; 0 is best for small data-rich runs.")
    init_std: float = knob(0.02, "Std of the normal init; residual projections are scaled by 1/sqrt(2 n_layer).")
    moe: MoEConfig | None = knob(None, "Mixture-of-experts feed-forward (num_experts, top_k, ...); absent = dense.")

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
        _require(self.activation in ACTIVATIONS, "model.activation",
                 f"unknown activation {self.activation!r}", f"use one of {', '.join(ACTIVATIONS)}")
        if isinstance(self.moe, dict):  # ModelConfig(**mapping): the nested section as a mapping
            self.moe = MoEConfig(**self.moe)
        if self.moe is not None:
            _require(self.moe.every_n_layers <= self.n_layer, "model.moe.every_n_layers",
                     f"{self.moe.every_n_layers} exceeds model.n_layer {self.n_layer}, so no block would hold experts",
                     "use 1 (every block) or 2 (every other block)")
        _require(self.rope_theta > 0, "model.rope_theta", "must be positive")
        _require(0.0 <= self.dropout < 1.0, "model.dropout", "must be in [0, 1)")
        _require(self.init_std > 0, "model.init_std", "must be positive")
        _require(0 < self.norm_eps < 1, "model.norm_eps", "must be in (0, 1), e.g. 1e-5")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def ffn_dim(self) -> int:
        """Hidden size of a dense MLP. Gated MLPs have three matrices, the others two, so 8/3 vs 4 x d_model keeps
        their parameter counts (and FLOPs) equal."""
        if self.d_ff:
            return self.d_ff
        return (self._auto_hidden() + 31) // 32 * 32

    @property
    def expert_dim(self) -> int:
        """Hidden size of one expert: d_ff if set, else the dense hidden size split among the experts a token
        passes through (top_k routed + shared), so the active parameters per token stay those of the dense MLP."""
        if self.d_ff or self.moe is None:
            return self.ffn_dim
        used = self.moe.top_k + self.moe.shared_experts
        return (-(-self.ffn_dim // used) + 15) // 16 * 16  # ceil(ffn_dim / used), rounded up to 16

    def _auto_hidden(self) -> int:
        return int(8 * self.d_model / 3) if self.activation in GATED else 4 * self.d_model

    def is_moe_layer(self, i: int) -> bool:
        """Block i (0-based) holds an MoE feed-forward: every every_n_layers-th block, counting from 1."""
        return self.moe is not None and (i + 1) % self.moe.every_n_layers == 0
