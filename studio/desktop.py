"""The studio as a desktop app: where its static files (assets/) are, its window icon, and the Linux launcher
written by `minigpt-studio --install-desktop-entry` (an XDG desktop entry plus the icon in the hicolor theme).

Knows nothing about windows or engines; app.py calls it.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

APP_ID = "minigpt-studio"          # desktop entry name, icon name and Qt's desktopFileName
ICON_STEM = "minigpt-studio-icon"
MARKER = "X-MiniGPT-Studio=true"   # marks entries we wrote, so a re-install never replaces someone else's file


def assets_dir() -> Path:
    """<repo>/assets in a checkout; once installed (pip, pipx), <prefix>/share/minigpt-studio/assets, where
    pyproject's data-files put them (the prefix of the environment, or the user base for `pip install --user`)."""
    checkout = Path(__file__).resolve().parents[1] / "assets"
    if checkout.is_dir():
        return checkout
    import sysconfig
    prefixes = [sysconfig.get_path("data"), sys.prefix]
    if f"{os.name}_user" in sysconfig.get_scheme_names():
        prefixes.append(sysconfig.get_path("data", f"{os.name}_user"))
    for prefix in prefixes:
        folder = Path(prefix) / "share" / APP_ID / "assets"
        if folder.is_dir():
            return folder
    return checkout


def icon_files() -> dict[int | str, Path]:
    """Size -> PNG, plus "svg" -> the scalable source; only files that exist."""
    root = assets_dir()
    out: dict[int | str, Path] = {}
    for png in sorted((root / "icons").glob(f"{ICON_STEM}-*.png")):
        size = png.stem.rsplit("-", 1)[-1]
        if size.isdigit():
            out[int(size)] = png
    svg = root / f"{ICON_STEM}.svg"
    if svg.is_file():
        out["svg"] = svg
    return out


def app_icon():
    """The window icon with every rendered size (Qt picks the nearest); an empty icon if assets are missing."""
    from PySide6.QtGui import QIcon
    icon = QIcon()
    for key, path in icon_files().items():
        if key != "svg":
            icon.addFile(str(path))
    return icon


def data_home() -> Path:
    """$XDG_DATA_HOME, or ~/.local/share when it is unset or empty (the XDG base directory rule)."""
    env = os.environ.get("XDG_DATA_HOME", "").strip()
    return Path(env) if env and Path(env).is_absolute() else Path.home() / ".local" / "share"


def launch_command() -> tuple[str, str | None]:
    """(Exec line, working folder): the installed `minigpt-studio` script if on PATH, else this Python running
    the studio from this checkout."""
    script = shutil.which(APP_ID)
    if script:
        return _quote(script), None
    return f"{_quote(sys.executable)} -m studio.app", str(Path(__file__).resolve().parents[1])


def _quote(arg: str) -> str:
    # the desktop entry spec's quoting: double quotes around arguments with reserved characters
    if any(c in arg for c in ' \t"\'\\><~|&;$*?#()`'):
        return '"' + arg.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`").replace("$", "\\$") + '"'
    return arg


def desktop_entry(exec_line: str, workdir: str | None) -> str:
    lines = ["[Desktop Entry]", "Type=Application", "Name=MiniGPT Studio",
             "GenericName=Language model trainer",
             "Comment=Train small GPT models from scratch, watch them learn, and chat with them",
             f"Exec={exec_line}", f"Icon={APP_ID}", "Terminal=false", "Categories=Development;Science;Education;",
             "Keywords=GPT;LLM;training;PyTorch;chat;", f"StartupWMClass={APP_ID}", MARKER]
    if workdir:
        lines.insert(6, f"Path={workdir}")
    return "\n".join(lines) + "\n"


class InstallError(RuntimeError):
    """A launcher that cannot be installed; the message says why and what to do."""


def install_desktop_entry(home: Path | None = None) -> list[Path]:
    """Write the launcher and the icon under `home` (default: XDG data home). Returns the files written."""
    home = home or data_home()
    icons = icon_files()
    if not any(k != "svg" for k in icons):
        raise InstallError(f"no icon PNGs under {assets_dir() / 'icons'}; run assets/render_icons.py first")
    entry = home / "applications" / f"{APP_ID}.desktop"
    if entry.exists() and MARKER not in entry.read_text(encoding="utf-8", errors="replace"):
        raise InstallError(f"{entry} exists and was not written by MiniGPT Studio; move it away and run this again")
    written = []
    for key, src in icons.items():
        folder = "scalable" if key == "svg" else f"{key}x{key}"
        dest = home / "icons" / "hicolor" / folder / "apps" / f"{APP_ID}{src.suffix}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        written.append(dest)
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.write_text(desktop_entry(*launch_command()), encoding="utf-8")
    entry.chmod(0o755)   # some desktops only launch entries marked executable
    written.append(entry)
    return written
