"""Int8 weights for CPU inference (`--quantize int8`): every Linear of a loaded GPT becomes a dynamically quantized one.

Decoding one token reads every weight once, so on a CPU it is bound by memory traffic; int8 weights are a quarter of
fp32's bytes. Each weight matrix is stored as int8 with one fp32 scale, w ~ scale * q (q in [-128, 127]); each
input is quantized the same way on the fly, per call (dynamic), and the int8 x int8 -> int32 product is rescaled
to fp32. The embedding stays fp32 (a tied output head gets its own int8 copy). Inference only: no gradients.
It knows nothing about checkpoints or tokenizers; engine/inference.py calls it after loading the weights.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn as nn

from engine.errors import UserError

QUANTIZE_MODES = ("none", "int8")


def check_quantize(mode: str, device: torch.device) -> None:
    """Refuse what cannot run: an unknown mode, or int8 off the CPU (torch's dynamic int8 kernels are CPU-only)."""
    if mode not in QUANTIZE_MODES:
        raise UserError(f"--quantize: unknown mode {mode!r}", f"use one of {', '.join(QUANTIZE_MODES)}",
                        kind="input")
    if mode == "int8" and device.type != "cpu":
        raise UserError(f"--quantize int8 runs on the CPU only, and this model is on {device.type}",
                        "add --device cpu, or leave out --quantize (GPUs decode in bf16)", kind="input")


def apply_int8(model: nn.Module) -> nn.Module:
    """Swap every nn.Linear for torch's dynamic int8 Linear in place (per-tensor scale, x86/fbgemm kernels)."""
    from torch.ao.quantization import quantize_dynamic
    model.eval()
    with warnings.catch_warnings():
        # torch.ao.quantization announces its move to torchao; its fbgemm kernels are what runs here: torchao 0.18's
        # eager int8 weight-only and int8 x int8 layers measured 1.7x and 5x slower per token on a Zen 4 CPU.
        warnings.simplefilter("ignore")
        quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8, inplace=True)
    return model


def is_int8_linear(module: nn.Module) -> bool:
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
    return isinstance(module, DynamicLinear)


def quantized_mode(model: nn.Module) -> str:
    """'int8' when the model's linears were swapped by apply_int8, else 'none'."""
    return "int8" if any(is_int8_linear(m) for m in model.modules()) else "none"
