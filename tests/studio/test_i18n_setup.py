"""The translation set-up: the zh_CN .ts is complete and up to date with the studio's sources, the .qm is built
from it when missing or stale (pyside6-lrelease, else the .ts is read directly), View → Language is remembered,
and the walk's English detector tells untranslated text from names that stay as they are."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from i18n_walk import is_english
from PySide6.QtCore import QCoreApplication

from studio import i18n, settings
from studio.i18n_missing import missing

TS = i18n.TS_FILES["zh"]
LUPDATE = Path(sys.executable).parent / "pyside6-lupdate"


@pytest.fixture
def en_after(qapp):
    yield
    i18n.install_translator("en")


def test_every_entry_of_the_ts_is_translated():
    assert missing(TS) == [], "run `python -m studio.i18n_missing` and fill these in"


@pytest.mark.skipif(not LUPDATE.exists(), reason="pyside6-lupdate is not installed")
def test_the_ts_holds_every_string_of_the_studio_sources(tmp_path):
    """A new tr() string fails here until `make i18n-update` adds it (and studio.i18n_missing shows it)."""
    copy = tmp_path / TS.name
    shutil.copy(TS, copy)
    root = Path(i18n.__file__).parent
    subprocess.run([str(LUPDATE), "-extensions", "py", "-no-obsolete", "-locations", "none", str(root),
                    "-ts", str(copy)], check=True, capture_output=True, timeout=120)
    new = [e["source"] for e in missing(copy)]
    assert not new, f"strings missing from {TS.name} (run `make i18n-update`): {new}"


def test_a_missing_qm_is_built_with_lrelease_and_used(qapp, tmp_path, monkeypatch, en_after):
    if i18n.lrelease() is None:
        pytest.skip("pyside6-lrelease is not installed")
    ts = tmp_path / TS.name
    shutil.copy(TS, ts)
    monkeypatch.setitem(i18n.TS_FILES, "zh", ts)
    assert i18n.install_translator("zh") == "zh"
    assert ts.with_suffix(".qm").exists()
    assert QCoreApplication.translate("MainWindow", "Monitor") == "监控"
    assert i18n.active_language() == "zh"


def test_a_stale_qm_is_rebuilt(tmp_path, monkeypatch):
    if i18n.lrelease() is None:
        pytest.skip("pyside6-lrelease is not installed")
    ts = tmp_path / TS.name
    shutil.copy(TS, ts)
    monkeypatch.setitem(i18n.TS_FILES, "zh", ts)
    qm = ts.with_suffix(".qm")
    qm.write_bytes(b"old")
    os.utime(qm, (1, 1))
    assert i18n.build_qm("zh") == qm and qm.stat().st_size > 1000


def test_without_lrelease_the_ts_itself_is_read(qapp, tmp_path, monkeypatch, en_after):
    ts = tmp_path / TS.name
    shutil.copy(TS, ts)
    monkeypatch.setitem(i18n.TS_FILES, "zh", ts)
    monkeypatch.setattr(i18n, "lrelease", lambda: None)
    assert i18n.install_translator("zh") == "zh"
    assert not ts.with_suffix(".qm").exists()
    assert QCoreApplication.translate("MainWindow", "Runs") == "运行"
    assert QCoreApplication.translate("MainWindow", "not in the table") == "not in the table"
    assert QCoreApplication.translate("MainWindow", "%n run(s) training", None, 3) == "3 个运行正在训练"
    i18n.install_translator("en")
    assert QCoreApplication.translate("MainWindow", "Runs") == "Runs" and i18n.active_language() == "en"


def test_view_language_is_remembered(qtbot, monkeypatch, en_after):
    from PySide6.QtWidgets import QMessageBox

    from studio.views.main_window import MainWindow
    notes = []
    monkeypatch.setattr(QMessageBox, "information", lambda _p, _t, text: notes.append(text))
    settings.set_value("ui/language", "en")
    win = MainWindow(run_doctor=False)
    qtbot.addWidget(win)
    menu = win.findChild(type(win.menuBar().actions()[0].menu()), "languageMenu")
    chinese = next(a for a in menu.actions() if a.data() == "zh")
    chinese.trigger()
    assert settings.value("ui/language", "", str) == "zh" and i18n.interface_language() == "zh"
    assert notes and "简体中文" in notes[0]          # the note says, in Chinese, that it applies on the next start
    settings.set_value("ui/language", "en")


def test_the_english_detector():
    sources = {"Load", "Open a checkpoint folder"}
    assert is_english("Load", sources)
    assert is_english("<b>Training time here</b>: soon", set())
    assert not is_english("加载", sources)
    assert not is_english("<b>model.d_model</b><br>残差流的宽度", set())
    for name in ("MiniGPT Studio", "run.batch_size", "/tmp/ws/runs/tiny-a", "Top-k", "12,345", "bf16", "cpu"):
        assert not is_english(name, sources), name


def test_the_cut_off_detector(qtbot):
    from i18n_walk import cut_off
    from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget
    root = QWidget()
    qtbot.addWidget(root)
    lay = QVBoxLayout(root)
    squeezed = QPushButton("一个很长很长很长很长很长的按钮文字")
    squeezed.setFixedWidth(60)
    wrapped = QLabel("一段很长很长很长很长很长很长的说明文字，会自动换行")
    wrapped.setWordWrap(True)
    wrapped.setFixedWidth(60)
    lay.addWidget(squeezed)
    lay.addWidget(wrapped)
    root.show()
    qtbot.waitExposed(root)
    found = cut_off(root)
    assert len(found) == 1 and "QPushButton" in found[0]
