"""One set of sampling defaults: `minigpt chat`, `minigpt generate` and the chat server all start from
engine.protocol.SAMPLING_DEFAULTS (the studio's controls are checked in tests/studio/test_chat_page.py)."""

from __future__ import annotations

from dataclasses import asdict

from engine.cli import build_parser
from engine.cli_inference import sampling_params
from engine.protocol import SAMPLING_DEFAULTS
from engine.serve import sampling_from


def test_chat_server_defaults():
    p = sampling_from({})
    for key, value in asdict(SAMPLING_DEFAULTS).items():
        assert getattr(p, key) == value, key


def test_generate_cli_defaults():
    args = build_parser().parse_args(["generate", "ckpt", "--prompt", "hi"])
    p = sampling_params(args)
    for key, value in asdict(SAMPLING_DEFAULTS).items():
        assert getattr(p, key) == value, key
    beams = sampling_params(build_parser().parse_args(["generate", "ckpt", "--num-beams", "2"]))
    assert beams.temperature == 0.0          # beam search stays deterministic


def test_chat_cli_defaults():
    args = build_parser().parse_args(["chat", "ckpt"])
    assert (args.temperature, args.top_k, args.top_p, args.max_new_tokens) == (
        SAMPLING_DEFAULTS.temperature, SAMPLING_DEFAULTS.top_k, SAMPLING_DEFAULTS.top_p,
        SAMPLING_DEFAULTS.max_new_tokens)
