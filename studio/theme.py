"""Light and dark palettes that follow the system colour scheme (Qt 6.5+), plus the app's small stylesheet.

`apply_theme(app)` picks the palette now and again whenever the system scheme changes; pyqtgraph follows it.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

LIGHT = {"window": "#f6f7f9", "base": "#ffffff", "alt": "#f0f2f5", "text": "#1f2328", "muted": "#667085",
         "button": "#ffffff", "highlight": "#2563eb", "border": "#d0d5dd", "nav": "#eceff3", "plot": "#ffffff",
         "user": "#dbeafe", "assistant": "#f1f5f9", "error_bg": "#fef2f2", "error": "#b91c1c"}
DARK = {"window": "#1e2127", "base": "#16181d", "alt": "#23262d", "text": "#e6e8eb", "muted": "#9aa4b2",
        "button": "#2a2e36", "highlight": "#3b82f6", "border": "#3a3f4b", "nav": "#191b20", "plot": "#16181d",
        "user": "#1e3a5f", "assistant": "#262a33", "error_bg": "#3b1d1d", "error": "#fca5a5"}

STYLE = """
#navList {{ background: {nav}; border: none; font-size: 14px; padding-top: 8px; outline: 0; }}
#navList::item {{ padding: 10px 18px; border-radius: 6px; margin: 2px 8px; }}
#navList::item:selected {{ background: {highlight}; color: white; }}
#pageTitle {{ font-size: 20px; font-weight: 600; }}
#pageSubtitle, #hintLabel {{ color: {muted}; }}
#monitorTitle {{ font-size: 16px; font-weight: 600; }}
#fieldError, #blockReason {{ color: {error}; }}
*[invalid="true"] {{ border: 1px solid {error}; border-radius: 3px; }}
#wizardStep {{ padding: 6px; border-radius: 12px; color: {muted}; }}
#wizardStep[state="current"] {{ background: {highlight}; color: white; font-weight: 600; }}
#wizardStep[state="done"] {{ color: {text}; }}
#wizardArrow {{ color: {muted}; }}
#primaryButton {{ background: {highlight}; color: white; padding: 6px 18px; border-radius: 4px; border: none; }}
#primaryButton:disabled {{ background: {border}; color: {muted}; }}
#errorPanel {{ background: {error_bg}; border: 1px solid {error}; border-radius: 6px; }}
#errorMessage {{ color: {error}; }}
#bubble_user {{ background: {user}; border-radius: 10px; }}
#bubble_assistant {{ background: {assistant}; border-radius: 10px; }}
#bubble_system {{ background: {alt}; border-radius: 10px; }}
#bubbleRole {{ color: {muted}; font-size: 11px; font-weight: 600; }}
#bubbleStats {{ color: {muted}; font-size: 11px; }}
#bubbleText {{ font-size: 13px; }}
"""


def is_dark(app: QApplication) -> bool:
    return app.styleHints().colorScheme() == Qt.ColorScheme.Dark


def palette_for(colours: dict) -> QPalette:
    p = QPalette()
    role = QPalette.ColorRole
    for r, key in ((role.Window, "window"), (role.Base, "base"), (role.AlternateBase, "alt"),
                   (role.WindowText, "text"), (role.Text, "text"), (role.ButtonText, "text"),
                   (role.Button, "button"), (role.Highlight, "highlight"), (role.ToolTipBase, "base"),
                   (role.ToolTipText, "text"), (role.PlaceholderText, "muted")):
        p.setColor(r, QColor(colours[key]))
    p.setColor(role.HighlightedText, QColor("#ffffff"))
    p.setColor(QPalette.ColorGroup.Disabled, role.Text, QColor(colours["muted"]))
    p.setColor(QPalette.ColorGroup.Disabled, role.ButtonText, QColor(colours["muted"]))
    p.setColor(QPalette.ColorGroup.Disabled, role.WindowText, QColor(colours["muted"]))
    return p


def apply_theme(app: QApplication, dark: bool | None = None) -> None:
    """Apply the light or dark palette (the system's choice unless `dark` says otherwise)."""
    dark = is_dark(app) if dark is None else dark
    colours = DARK if dark else LIGHT
    app.setStyle("Fusion")
    app.setPalette(palette_for(colours))
    app.setStyleSheet(STYLE.format(**colours))
    pg.setConfigOptions(antialias=False, background=colours["plot"], foreground=colours["text"])


def follow_system(app: QApplication) -> None:
    apply_theme(app)
    app.styleHints().colorSchemeChanged.connect(lambda _scheme: apply_theme(app))
