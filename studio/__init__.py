"""MiniGPT Studio: the PySide6 desktop app over the engine's CLI processes.

The studio never imports torch; it talks to engine processes only through engine/protocol.py.
"""

__all__ = ["APP_NAME", "ORG_NAME"]

APP_NAME = "MiniGPT Studio"
ORG_NAME = "MiniGPT"
