"""QSettings in one place: the organisation/app names and the INI format, so tests can point them at a temp folder.

Holds window geometry and the user's last choices; knows nothing about widgets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

from studio import ORG_NAME

SETTINGS_APP = "studio"


def settings() -> QSettings:
    """The app's settings store (INI format: `QSettings.setPath` redirects it, e.g. in tests)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORG_NAME, SETTINGS_APP)


def use_settings_dir(folder: str | Path) -> None:
    """Keep settings under `folder` from now on (tests and screenshots use a throwaway one)."""
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))


def value(key: str, default: Any = None, type_: type | None = None) -> Any:
    s = settings()
    if type_ is None:
        return s.value(key, default)
    raw = s.value(key, default)
    if raw is None:
        return default
    try:
        if type_ is bool:
            return raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes")
        return type_(raw)
    except (TypeError, ValueError):
        return default


def set_value(key: str, val: Any) -> None:
    s = settings()
    s.setValue(key, val)
