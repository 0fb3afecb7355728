"""Every studio module imports with torch made unimportable: the studio never pulls torch in."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import studio


def test_studio_imports_without_torch():
    names = sorted(m.name for m in pkgutil.walk_packages(studio.__path__, "studio."))
    assert "studio.views.main_window" in names and "studio.screenshots" in names
    code = ("import sys, importlib; sys.modules['torch'] = None\n"
            f"for name in {names!r}:\n    importlib.import_module(name)\n"
            "assert sys.modules['torch'] is None\nprint('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
