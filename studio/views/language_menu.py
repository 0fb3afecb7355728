"""View → Language: English or 简体中文, remembered in QSettings "ui/language" (studio/i18n.py).

Widgets take their texts when they are built, so a new choice shows from the next start; the note says so in
the chosen language.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QMessageBox, QWidget

from studio import i18n

RESTART_NOTE = {
    "en": "MiniGPT Studio will be in English from the next start.",
    "zh": "下次启动 MiniGPT Studio 时界面将切换为简体中文。",
}


def add_language_menu(view_menu: QMenu, window: QWidget) -> QMenu:
    """Add the Language submenu to `view_menu`; picking one stores it and tells the user when it applies."""
    menu = view_menu.addMenu(QCoreApplication.translate("LanguageMenu", "&Language"))
    menu.setObjectName("languageMenu")
    group = QActionGroup(menu)
    current = i18n.interface_language()
    for code, name in i18n.LANGUAGES.items():       # each language named in itself, so anyone can find theirs
        action = QAction(name, menu, checkable=True)
        action.setData(code)
        action.setChecked(code == current)
        group.addAction(action)
        menu.addAction(action)
        action.triggered.connect(lambda _checked=False, code=code: _on_language_chosen(window, code))
    return menu


def _on_language_chosen(window: QWidget, code: str) -> None:
    if code == i18n.interface_language():
        return
    i18n.set_language(code)
    QMessageBox.information(window, "Language / 语言", RESTART_NOTE[code])
