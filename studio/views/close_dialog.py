"""The question asked when the window closes while runs are going: stop and save, keep running, or cancel."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

from studio.i18n import tr

STOP, KEEP, CANCEL = "stop", "keep", "cancel"


def ask_close(parent: QWidget, running: int) -> str:
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle(tr("Runs are still training"))
    box.setText(tr("%n run(s) still training.", running))
    box.setInformativeText(tr("Stop and save: each run saves a checkpoint and exits (you can resume it later).\n"
                              "Keep running: training goes on without the studio; reopen it from Runs."))
    stop = box.addButton(tr("Stop and save"), QMessageBox.ButtonRole.AcceptRole)
    keep = box.addButton(tr("Keep running in background"), QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(stop)
    box.exec()
    clicked = box.clickedButton()
    return STOP if clicked is stop else (KEEP if clicked is keep else CANCEL)
