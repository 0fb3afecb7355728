"""MiniGPT Studio engine: everything that trains, generates and evaluates. Never imports Qt."""

__version__ = "0.1.0"
