"""The studio as a desktop app: the icon in assets/ (SVG and PNG sizes 16-512), the window icon, the launcher
written by `minigpt-studio --install-desktop-entry` under $XDG_DATA_HOME, and the wheel shipping the assets."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from PySide6.QtGui import QImage

from studio import desktop

ROOT = Path(__file__).resolve().parents[2]
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def install(data_home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_DATA_HOME": str(data_home), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "studio.app", "--install-desktop-entry"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_icon_files_have_every_size():
    icons = desktop.icon_files()
    assert "icon" in icons["svg"].name and icons["svg"].parent == ROOT / "assets"
    for size in SIZES:
        assert "icon" in icons[size].name
        image = QImage(str(icons[size]))
        assert (image.width(), image.height()) == (size, size)
        assert image.pixelColor(size // 2, size // 2).alpha() == 255       # drawn, not an empty canvas


def test_window_uses_the_app_icon(qtbot, fake_command):
    from studio.app import create_app
    from studio.views.main_window import MainWindow
    app = create_app()
    sizes = {s.width() for s in app.windowIcon().availableSizes()}
    assert {16, 32, 256, 512} <= sizes
    win = MainWindow(fake_command("serve_ok"), run_doctor=False)
    qtbot.addWidget(win)
    assert not win.windowIcon().isNull()
    assert app.desktopFileName() == desktop.APP_ID


def test_install_desktop_entry_respects_xdg_data_home(tmp_path):
    home = tmp_path / "xdg"
    proc = install(home)
    assert proc.returncode == 0, proc.stderr
    entry = home / "applications" / "minigpt-studio.desktop"
    text = entry.read_text(encoding="utf-8")
    assert text.startswith("[Desktop Entry]\n") and "Icon=minigpt-studio\n" in text and "Type=Application" in text
    exec_line = next(ln for ln in text.splitlines() if ln.startswith("Exec="))
    assert exec_line.endswith("minigpt-studio") or (exec_line.endswith("-m studio.app") and f"Path={ROOT}" in text)
    for size in SIZES:
        icon = home / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "minigpt-studio.png"
        assert icon.read_bytes() == desktop.icon_files()[size].read_bytes()
    assert (home / "icons" / "hicolor" / "scalable" / "apps" / "minigpt-studio.svg").is_file()
    assert str(entry) in proc.stdout
    assert install(home).returncode == 0                                # our own launcher is refreshed


def test_install_never_replaces_someone_elses_entry(tmp_path):
    home = tmp_path / "xdg"
    entry = home / "applications" / "minigpt-studio.desktop"
    entry.parent.mkdir(parents=True)
    entry.write_text("[Desktop Entry]\nName=Mine\n", encoding="utf-8")
    proc = install(home)
    assert proc.returncode == 1
    assert str(entry) in proc.stderr and "move it away" in proc.stderr
    assert entry.read_text(encoding="utf-8") == "[Desktop Entry]\nName=Mine\n"


def test_wheel_ships_every_asset():
    """pyproject's data-files patterns cover the icon files (installed under <prefix>/share/minigpt-studio)."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = {Path(p).resolve() for patterns in cfg["tool"]["setuptools"]["data-files"].values()
               for pattern in patterns for p in glob.glob(str(ROOT / pattern))}
    wanted = {p.resolve() for p in desktop.icon_files().values()}
    assert wanted and wanted <= shipped
