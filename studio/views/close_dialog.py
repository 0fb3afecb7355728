"""The question asked when the window closes while runs are going: stop and save, keep running, or cancel."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

STOP, KEEP, CANCEL = "stop", "keep", "cancel"


def ask_close(parent: QWidget, running: int) -> str:
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Runs are still training")
    what = "A run is" if running == 1 else f"{running} runs are"
    box.setText(f"{what} still training.")
    box.setInformativeText("Stop and save: each run saves a checkpoint and exits (you can resume it later).\n"
                           "Keep running: training goes on without the studio; reopen it from Runs.")
    stop = box.addButton("Stop and save", QMessageBox.ButtonRole.AcceptRole)
    keep = box.addButton("Keep running in background", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(stop)
    box.exec()
    clicked = box.clickedButton()
    return STOP if clicked is stop else (KEEP if clicked is keep else CANCEL)
