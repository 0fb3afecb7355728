"""The studio's interface language: which one (View → Language, QSettings "ui/language", else the system locale)
and the Qt translators that put it on screen, from studio/i18n/minigpt_zh_CN.qm (plus Qt's own qtbase texts).

After adding or changing studio strings (or merging a branch that did):
    make i18n-update                          # pyside6-lupdate over studio/: new source strings enter the .ts
    .venv/bin/python -m studio.i18n_missing   # lists what still needs Chinese; --apply zh.json fills them in
    make i18n                                 # pyside6-lrelease: .ts → .qm (also run by `make studio`/`make test`)
The .qm is never checked in: when it is missing or older than the .ts, startup runs pyside6-lrelease itself, and
if that tool is missing too, reads the .ts directly (TsTranslator), so `pip install -e .` alone also works.
In a QObject use self.tr("..."); in a module-level function, tr("...") from here (lupdate's empty context).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, QLibraryInfo, QLocale, QTranslator

from studio import settings

I18N_DIR = Path(__file__).resolve().parent / "i18n"
LANGUAGES = {"en": "English", "zh": "简体中文"}
TS_FILES = {"zh": I18N_DIR / "minigpt_zh_CN.ts"}
QM_LOCALES = {"zh": "zh_CN"}
SETTINGS_KEY = "ui/language"


def interface_language() -> str:
    """en or zh: the language chosen in View → Language, else the system locale's."""
    chosen = settings.value(SETTINGS_KEY, "", str)
    if chosen in LANGUAGES:
        return chosen
    return "zh" if QLocale.system().name().lower().startswith("zh") else "en"


def set_language(language: str) -> None:
    """Remember the choice (the running app applies it with install_translator)."""
    settings.settings().setValue(SETTINGS_KEY, language)


def qm_path(language: str) -> Path:
    return TS_FILES[language].with_suffix(".qm")


def lrelease() -> str | None:
    """The pyside6-lrelease next to this interpreter (the PySide6 wheel ships it), else one on PATH."""
    beside = Path(sys.executable).parent / "pyside6-lrelease"
    return str(beside) if beside.exists() else shutil.which("pyside6-lrelease")


def build_qm(language: str) -> Path | None:
    """Compile the .ts when its .qm is missing or older; the .qm path, or None when it could not be built."""
    ts, qm = TS_FILES[language], qm_path(language)
    if qm.exists() and qm.stat().st_mtime >= ts.stat().st_mtime:
        return qm
    tool = lrelease()
    if tool is None:
        return None
    # Build beside it and rename: two studios (or tests) starting at once must never load a half-written .qm.
    part = qm.with_name(f"{qm.stem}.{os.getpid()}.part.qm")
    try:
        subprocess.run([tool, "-silent", str(ts), "-qm", str(part)], check=True, timeout=60, capture_output=True)
        os.replace(part, qm)
    except (OSError, subprocess.SubprocessError):
        part.unlink(missing_ok=True)
        return None                 # a stale .qm would hide new texts: read the .ts instead
    return qm


class TsTranslator(QTranslator):
    """Translations read straight from the .ts XML: the fallback when no .qm can be built."""

    def __init__(self, ts: Path, parent=None) -> None:
        super().__init__(parent)
        self._table: dict[tuple[str, str], str] = {}
        for context in ET.parse(ts).getroot().iter("context"):
            name = context.findtext("name", "")
            for message in context.iter("message"):
                text = message.find("translation")
                if text is None or text.get("type") in ("unfinished", "vanished", "obsolete"):
                    continue
                # Chinese has one plural form; Qt puts the count in place of %n after translate() returns
                value = text.findtext("numerusform") if message.get("numerus") == "yes" else text.text
                if value:
                    self._table[(name, message.findtext("source", ""))] = value

    def translate(self, context, source, disambiguation=None, n=-1):  # noqa: ARG002 (Qt's signature)
        return self._table.get((context, source))   # None: no translation, Qt shows the source

    def isEmpty(self) -> bool:  # noqa: N802 (Qt's name)
        return not self._table


_installed: list[QTranslator] = []
_active = ["en"]          # the language of the installed translator


class EnglishPlurals(QTranslator):
    """English itself needs one translation: "%n run(s) training" -> "1 run training" / "3 runs training". It
    answers only while English is shown, so an installed Chinese translator is never overridden."""

    def translate(self, context, source, disambiguation=None, n=-1):  # noqa: ARG002 (Qt's signature)
        if _active[0] != "en" or n < 0 or "(s)" not in source:
            return None
        return source.replace("(s)", "" if n == 1 else "s")


_plurals: list[QTranslator] = []


def ensure_english_plurals() -> None:
    """Install the English plural forms on the running app once (the main window calls this)."""
    app = QCoreApplication.instance()
    if app is not None and not _plurals:
        _plurals.append(EnglishPlurals(app))
        app.installTranslator(_plurals[0])


def active_language() -> str:
    """The language the running app shows ("en" until install_translator loaded another)."""
    return _active[0]


def knob_help(info: dict) -> str:
    """A knob's help text (an engine.config.help_for entry) in the active language."""
    return (active_language() == "zh" and info.get("help_zh")) or info.get("help", "")


def knob_label(info: dict) -> str | None:
    """A knob's name in the active language; None: the studio's English label from its key."""
    return (active_language() == "zh" and info.get("label_zh")) or None


def install_translator(language: str | None = None) -> str:
    """Install the translator for `language` (default: interface_language()) on the running app, replacing any
    earlier one; returns the language now in effect ("en" when no translation could be loaded)."""
    app = QCoreApplication.instance()
    language = language or interface_language()
    ensure_english_plurals()
    while _installed:
        app.removeTranslator(_installed.pop())
    _active[0] = "en"
    if language not in TS_FILES or not TS_FILES[language].exists():
        return "en"
    translator = QTranslator(app)
    qm = build_qm(language)
    if qm is None or not translator.load(str(qm)):
        translator = TsTranslator(TS_FILES[language], app)
    qt_own = QTranslator(app)       # Qt's own texts: dialog buttons, "Close Tab", context menus
    qt_dir = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
    if qt_own.load(QLocale(QM_LOCALES[language]), "qtbase", "_", qt_dir):
        app.installTranslator(qt_own)
        _installed.append(qt_own)
    app.installTranslator(translator)
    _installed.append(translator)
    _active[0] = language
    return language


def translate(context: str, text: str) -> str:
    return QCoreApplication.translate(context, text)


# A run's status as the engine writes it (protocol words), shown through status_text in the Monitor and Runs.
STATUS_WORDS = (QT_TRANSLATE_NOOP("Status", "running"), QT_TRANSLATE_NOOP("Status", "paused"),
                QT_TRANSLATE_NOOP("Status", "stopping"), QT_TRANSLATE_NOOP("Status", "completed"),
                QT_TRANSLATE_NOOP("Status", "stopped"), QT_TRANSLATE_NOOP("Status", "failed"),
                QT_TRANSLATE_NOOP("Status", "diverged"), QT_TRANSLATE_NOOP("Status", "interrupted"),
                QT_TRANSLATE_NOOP("Status", "starting"), QT_TRANSLATE_NOOP("Status", "unknown"),
                QT_TRANSLATE_NOOP("Status", "failed start"))


def status_text(status: str) -> str:
    return QCoreApplication.translate("Status", status)


def tr(text: str, n: int = -1) -> str:
    """Translate a text outside any QObject (module-level functions). pyside6-lupdate files a bare `tr("...")`
    call under the empty context, so this looks it up there; inside a QObject subclass use self.tr."""
    return QCoreApplication.translate("", text, None, n)
