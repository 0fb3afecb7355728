"""The building blocks every config section uses: `knob` (a field with help text) and `ConfigError`.

No torch; the studio reads these through engine.config.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

from engine.errors import UserError


def knob(default: Any, help: str, **kw: Any) -> Any:
    """A config field with its help text (shown in `minigpt doctor --json` and as studio tooltips)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata={"help": help}, **kw)
    return field(default=default, metadata={"help": help}, **kw)


class ConfigError(UserError):
    def __init__(self, key: str, message: str, hint: str = ""):
        super().__init__(f"{key}: {message}", hint, kind="config")
        self.key = key


def _require(ok: bool, key: str, message: str, hint: str = "") -> None:
    if not ok:
        raise ConfigError(key, message, hint)
