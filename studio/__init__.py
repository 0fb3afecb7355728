"""MiniGPT Studio: the PySide6 desktop app over the engine's CLI processes.

The studio never imports torch; it talks to engine processes only through engine/protocol.py.
PySide6 6.12.0 is excluded in pyproject.toml: on Python 3.11 each call of a Qt method returning void drops a
reference to None, and the interpreter aborts after a few thousand UI calls (6.11.3 does not).
"""

__all__ = ["APP_NAME", "ORG_NAME"]

APP_NAME = "MiniGPT Studio"
ORG_NAME = "MiniGPT"
