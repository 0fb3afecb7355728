"""`minigpt-studio`: create the application, follow the system's light/dark scheme, open the main window.

Runs left training in the background ("keep running") must outlive the studio, so the process then ends with
os._exit after saving settings: QProcess would otherwise kill its children while being destroyed.
"""

from __future__ import annotations

import os
import sys

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from studio import APP_NAME, ORG_NAME, settings
from studio.theme import follow_system


def create_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    app.setOrganizationName(ORG_NAME)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setAttribute(Qt.ApplicationAttribute.AA_DontShowIconsInMenus, False)
    follow_system(app)
    return app


def main(argv: list[str] | None = None) -> int:
    app = create_app(argv)
    from studio.views.main_window import MainWindow
    window = MainWindow()
    window.show()
    code = app.exec()
    if app.property("detached_runs"):
        settings.settings().sync()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
