"""Subcommands for using a trained model: generate, eval, export (and serve --http). Parsers and handlers.

Kept apart from engine/cli.py so the training CLI and the inference CLI can grow independently.
"""

from __future__ import annotations

INFERENCE_HANDLERS: dict = {}


def add_inference_parsers(sub) -> None:
    """Register the inference subcommands on the `minigpt` subparsers object."""
