"""Load a checkpoint for talking to it: model + tokenizer + a generator, on the chosen device.

Streaming text helper included, since byte-level BPE can split one character over several tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine import checkpoint as ckpt
from engine.config import HardwareConfig
from engine.generate import Generator
from engine.hardware import Runtime, init_runtime, pick_device
from engine.model.gpt import GPT
from engine.model.quantize import apply_int8, check_quantize
from engine.tokenizer import Tokenizer


@dataclass
class LoadedModel:
    folder: Path
    model: GPT
    tok: Tokenizer
    rt: Runtime
    generator: Generator
    meta: dict


def load_for_inference(path: str | Path, device: str = "auto", quantize: str = "none") -> LoadedModel:
    """quantize: "none", or "int8" for int8 Linear weights on the CPU (engine/model/quantize.py)."""
    if quantize != "none":
        check_quantize(quantize, pick_device(device))  # before any loading: a clear refusal, not a late failure
    folder = ckpt.resolve_checkpoint(path)
    meta = ckpt.read_checkpoint_config(folder)
    tok = Tokenizer.load(folder / ckpt.TOKENIZER)
    # Decoding on a CPU is bound by reading weights: bf16 autocast re-casts them every op and measured 2-3x
    # slower than fp32 there, so CPU inference runs in fp32; GPUs keep the automatic choice.
    precision = "fp32" if pick_device(device).type == "cpu" else "auto"
    rt = init_runtime(HardwareConfig(device=device, precision=precision), seed=0)
    model = GPT(ckpt.model_config_of(folder))
    ckpt.load_weights(model, folder)
    model.to(rt.device).eval()
    if quantize == "int8":
        apply_int8(model)
    # A reply ends at <|im_end|>; a weak model may instead open the next turn or end the document.
    stops = [tok.im_end_id, tok.eot_id, tok.im_start_id]
    gen = Generator(model, stops, tok.pad_id, decode=tok.decode, autocast=rt.autocast)
    return LoadedModel(folder, model, tok, rt, gen, meta)


class TextStream:
    """Turns a growing list of token ids into new text pieces, holding back incomplete UTF-8 characters."""

    def __init__(self, tok: Tokenizer):
        self.tok, self.ids, self.sent = tok, [], 0

    def push(self, token_id: int) -> str:
        self.ids.append(token_id)
        text = self.tok.decode(self.ids, skip_special=True)
        if text.endswith("\ufffd"):
            return ""
        piece, self.sent = text[self.sent:], len(text)
        return piece

