"""MiniGPT Studio engine: everything that trains, generates and evaluates. Never imports Qt."""

import os
import sys

__version__ = "0.1.0"

# Ops the Apple GPU lacks run on the CPU instead of failing. torch reads this once, when it loads, so it is set
# here: every engine entry point imports this package before torch. A value the user set is kept.
if sys.platform == "darwin":
    os.environ.setdefault("PYTORCH_ENABLE_MPS_FALLBACK", "1")
