"""An editable combo box whose items are labelled choices (a run's checkpoint, a rule) and whose text may also be
typed (a folder): what value it holds, and how to show one. Shared by the reward and teacher pickers."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox


def combo_value(combo: QComboBox) -> str:
    """The chosen item's data when its label is shown unedited, else the typed text."""
    i, text = combo.currentIndex(), combo.currentText().strip()
    if i >= 0 and combo.itemText(i) == text:
        return str(combo.itemData(i) or text)
    return text


def show_value(combo: QComboBox, value: str | None, deselect: bool = False) -> None:
    """Select the item whose data is `value`; otherwise type it (`deselect`: drop the current item first)."""
    value = value or ""
    for i in range(combo.count()):
        if combo.itemData(i) == value:
            combo.setCurrentIndex(i)
            return
    if deselect:
        combo.setCurrentIndex(-1)
    combo.setEditText(value)
