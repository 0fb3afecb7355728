"""Export a checkpoint as a Hugging Face Llama folder (config.json, model.safetensors, tokenizer files with the chat
template, generation_config.json) that transformers loads without custom code. Our RoPE rotates (first half, second
half) channel pairs exactly like HF's rotate_half, so q/k weights copy unpermuted. Anything Llama cannot express
(GEGLU/GELU MLPs, q/k norms, experts) is refused. It reads a checkpoint folder and writes files; nothing else.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

from engine import checkpoint as ckpt
from engine.config import ModelConfig
from engine.diskio import resolve_path
from engine.errors import UserError
from engine.tokenizer import CHAT_TEMPLATE, EOT, IM_END, PAD, Tokenizer

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def llama_blockers(cfg: ModelConfig) -> list[str]:
    """Why this model cannot be a Llama (empty when it can)."""
    why = []
    if cfg.activation != "swiglu":
        why.append(f"activation {cfg.activation!r} (Llama's MLP is SwiGLU)")
    if cfg.qk_norm:
        why.append("qk_norm (Llama has no per-head query/key norms)")
    if cfg.moe is not None:
        moe = cfg.moe
        layers = sum(cfg.is_moe_layer(i) for i in range(cfg.n_layer))
        why.append(f"mixture of experts (model.moe: {moe.num_experts} experts, top-{moe.top_k}, in {layers} of "
                   f"{cfg.n_layer} blocks; a Llama block holds one dense MLP)")
    return why


def hf_config(cfg: ModelConfig, tok: Tokenizer | None, dtype: str = "float32", eos_id: int | None = None) -> dict:
    """config.json of a LlamaForCausalLM of the same shape (rope_theta also in rope_parameters, for transformers 5)."""
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": cfg.vocab_size, "hidden_size": cfg.d_model, "intermediate_size": cfg.ffn_dim,
        "num_hidden_layers": cfg.n_layer, "num_attention_heads": cfg.n_head, "num_key_value_heads": cfg.n_kv_head,
        "head_dim": cfg.head_dim, "hidden_act": "silu", "max_position_embeddings": cfg.max_seq_len,
        "rms_norm_eps": cfg.norm_eps, "rope_theta": cfg.rope_theta,
        "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},
        "tie_word_embeddings": cfg.tie_embeddings, "attention_bias": False, "mlp_bias": False,
        "attention_dropout": 0.0, "initializer_range": cfg.init_std, "use_cache": True,
        "bos_token_id": None, "eos_token_id": eos_id, "pad_token_id": tok.pad_id if tok else None,
        "torch_dtype": dtype,
    }


def hf_state_dict(state: dict[str, torch.Tensor], cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """Our parameter names -> HF Llama names. Raises UserError for any tensor without a Llama home."""
    names = {"embed.weight": "model.embed_tokens.weight", "norm.weight": "model.norm.weight",
             "lm_head.weight": "lm_head.weight"}
    per_layer = {"attn_norm.weight": "input_layernorm.weight", "mlp_norm.weight": "post_attention_layernorm.weight",
                 **{f"attn.{p}_proj.weight": f"self_attn.{p}_proj.weight" for p in "qkvo"},
                 **{f"mlp.{p}_proj.weight": f"mlp.{p}_proj.weight" for p in ("gate", "up", "down")}}
    for i in range(cfg.n_layer):
        names.update({f"blocks.{i}.{ours}": f"model.layers.{i}.{theirs}" for ours, theirs in per_layer.items()})
    if cfg.tie_embeddings:
        state = {k: v for k, v in state.items() if k != "lm_head.weight"}  # HF re-ties from embed_tokens
    stray = sorted(k for k in state if k not in names)
    if stray:
        raise UserError(f"weights {', '.join(stray[:4])} have no place in a Llama model",
                        "only plain Llama-shaped checkpoints export to the hf format (merge LoRA adapters first)",
                        kind="export")
    missing = sorted(v for k, v in names.items()
                     if k not in state and not (k == "lm_head.weight" and cfg.tie_embeddings))
    if missing:
        raise UserError(f"the checkpoint lacks {', '.join(missing[:4])}", "the weights file is incomplete",
                        kind="export")
    return {names[k]: v.contiguous() for k, v in state.items()}


def tokenizer_files(tok: Tokenizer, eos: str) -> dict[str, str]:
    """tokenizer.json plus a tokenizer_config.json for PreTrainedTokenizerFast with our ChatML template."""
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": None,
        "bos_token": None, "eos_token": eos, "pad_token": PAD if tok.hf.token_to_id(PAD) is not None else EOT,
        "unk_token": None, "add_bos_token": False, "add_eos_token": False, "clean_up_tokenization_spaces": False,
        "chat_template": CHAT_TEMPLATE,
    }
    return {"tokenizer.json": tok.to_json(), "tokenizer_config.json": json.dumps(config, indent=1, ensure_ascii=False),
            "special_tokens_map.json": json.dumps({k: config[k] for k in ("eos_token", "pad_token")}, indent=1)}


def export_hf(checkpoint: str | Path, out: str | Path, dtype: str = "float32") -> Path:
    """Write the HF Llama folder for `checkpoint` at `out` (which must be new or empty). Returns `out`."""
    folder = ckpt.resolve_checkpoint(checkpoint)
    out = resolve_path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} already exists and is not empty", "choose a new --out folder", kind="output")
    if dtype not in DTYPES:
        raise UserError(f"unknown dtype {dtype!r}", f"use one of: {', '.join(DTYPES)}", kind="export")
    meta = ckpt.read_checkpoint_config(folder)
    cfg = ckpt.model_config_of(folder)
    blockers = llama_blockers(cfg)
    if blockers:
        raise UserError(f"this model cannot be exported as Llama: {'; '.join(blockers)}",
                        "export supports swiglu models without qk_norm or experts; use the checkpoint directly "
                        "with `minigpt serve` instead", kind="export")
    tok = Tokenizer.load(folder / ckpt.TOKENIZER)
    state = hf_state_dict(ckpt.read_weights(folder), cfg)
    state = {k: v.to(DTYPES[dtype]) for k, v in state.items()}
    chat = meta.get("stage") not in (None, "pretrain")
    eos = IM_END if chat else EOT
    files = tokenizer_files(tok, eos)
    files["config.json"] = json.dumps(hf_config(cfg, tok, dtype, tok.hf.token_to_id(eos)), indent=1)
    files["generation_config.json"] = json.dumps({
        "bos_token_id": None, "eos_token_id": [tok.im_end_id, tok.eot_id], "pad_token_id": tok.pad_id,
        "max_length": cfg.max_seq_len, "do_sample": False}, indent=1)
    source = {"source": str(folder), "step": meta.get("step"), "stage": meta.get("stage"),
              "engine_version": meta.get("engine_version")}
    files["minigpt_export.json"] = json.dumps(source, indent=1)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        for name, text in files.items():
            (tmp / name).write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
        if out.exists():
            out.rmdir()  # empty (checked above)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
