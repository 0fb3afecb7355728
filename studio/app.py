"""`minigpt-studio`: create the application, follow the system's light/dark scheme, open the main window;
`minigpt-studio --install-desktop-entry` adds a launcher with the app icon instead (Linux).

Runs left training in the background ("keep running") must outlive the studio, so the process then ends with
os._exit after saving settings: QProcess would otherwise kill its children while being destroyed.
"""

from __future__ import annotations

import argparse
import os
import sys

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from studio import APP_NAME, ORG_NAME, desktop, i18n, settings
from studio.theme import follow_system


def create_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    app.setOrganizationName(ORG_NAME)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setDesktopFileName(desktop.APP_ID)   # ties windows to the launcher's entry (and its icon) on Wayland
    app.setWindowIcon(desktop.app_icon())
    app.setAttribute(Qt.ApplicationAttribute.AA_DontShowIconsInMenus, False)
    follow_system(app)
    i18n.install_translator()
    return app


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our own flags; everything else (Qt's -platform, -style, ...) is left for QApplication."""
    p = argparse.ArgumentParser(prog="minigpt-studio", description="The MiniGPT Studio desktop app.",
                                allow_abbrev=False)
    p.add_argument("--install-desktop-entry", action="store_true",
                   help="add MiniGPT Studio to the desktop's application menu (Linux: "
                        "$XDG_DATA_HOME/applications, default ~/.local/share/applications) and exit")
    return p.parse_known_args(argv)


def install_entry() -> int:
    if not sys.platform.startswith("linux"):
        print("--install-desktop-entry writes a freedesktop.org launcher, which only Linux desktops read.",
              file=sys.stderr)
        return 2
    try:
        written = desktop.install_desktop_entry()
    except (desktop.InstallError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    print("MiniGPT Studio is in your application menu (log out and in if it does not show yet).")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    args, rest = parse_args(argv[1:])
    if args.install_desktop_entry:
        return install_entry()
    app = create_app(argv[:1] + rest)
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
