"""Form fields built from the engine's knob help: one widget per config key, its tooltip, and a reason label.

A `Field` reads and writes a plain Python value and shows why it is invalid beside itself; the pages decide
which keys to show. Widget type follows the knob's default (bool, int, float, text, or a fixed list of options).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.i18n import knob_help, knob_label
from studio.knob_chapters import learn_more

INT_MAX = 2_000_000_000


def pretty_label(name: str) -> str:
    special = {"d_model": "Width (d_model)", "n_layer": "Layers (n_layer)", "n_head": "Heads (n_head)",
               "n_kv_head": "KV heads (n_kv_head)", "d_ff": "MLP width (d_ff)", "lr": "Learning rate (lr)",
               "qk_norm": "QK norm", "tf32": "TF32 matmuls", "seq_len": "Sequence length",
               "rm_negatives": "RM negatives", "rm_center": "RM centring", "rpo_alpha": "RPO alpha"}
    return special.get(name, name.replace("_", " ").capitalize())


class Field(QObject):
    """One config key as a widget. `value()` is the parsed value, or raises ValueError with a reason."""

    changed = Signal()

    def __init__(self, key: str, default: Any, help_text: str = "", options: list[str] | None = None,
                 label: str | None = None, parent: QObject | None = None, auto: bool = False):
        super().__init__(parent)
        self.key = key
        self.kind = "int_auto" if auto and isinstance(default, int) else self._kind(default, options)
        self.nullable = default is None
        self.label = QLabel(label or pretty_label(key.split(".")[-1]))   # label: the Chinese name, in zh
        self.error = QLabel()
        self.error.setObjectName("fieldError")
        self.error.setWordWrap(True)
        self.error.hide()
        self.widget = self._make(default, options)
        more = learn_more(key)
        tip = f"<b>{key}</b><br>{help_text}" + (
            "<br><i>" + self.tr("default: {0}").format(repr(default)) + "</i>" if default not in (None, "") else "") + (
            f"<br><small>{more}</small>" if more else "")
        for w in (self.label, self.widget):
            w.setToolTip(tip)
        self.widget.setObjectName(f"field:{key}")
        self.set_value(default)

    @staticmethod
    def _kind(default: Any, options: list[str] | None) -> str:
        if options:
            return "choice"
        if isinstance(default, bool):
            return "bool"
        if isinstance(default, int):
            return "int"
        if isinstance(default, float):
            return "float"
        if isinstance(default, list):
            return "list"
        return "text"

    def _make(self, default: Any, options: list[str] | None) -> QWidget:
        if self.kind == "choice":
            w = QComboBox()
            self._add_options(w, options or [])
            w.currentIndexChanged.connect(self.changed)
        elif self.kind == "bool":
            w = QCheckBox()
            w.toggled.connect(self.changed)
        elif self.kind == "int_auto":  # a number, or "auto" (shown at 0, the bottom of the range)
            w = QSpinBox()
            w.setRange(0, INT_MAX)
            w.setSpecialValueText("auto")
            w.setMinimumWidth(110)
            w.valueChanged.connect(self.changed)
        elif self.kind == "int":
            w = QSpinBox()
            w.setRange(-INT_MAX, INT_MAX)
            w.setGroupSeparatorShown(True)
            w.setMinimumWidth(110)
            w.valueChanged.connect(self.changed)
        else:
            w = QLineEdit()
            w.textChanged.connect(self.changed)
            if self.kind == "list":
                w.setPlaceholderText(self.tr("comma-separated"))
        return w

    def set_options(self, options: list[str]) -> None:
        """Replace a choice field's options (e.g. the engine's lists from the doctor report), keeping its value."""
        current = self.value()
        self.widget.blockSignals(True)
        self.widget.clear()
        self._add_options(self.widget, options)
        self.widget.blockSignals(False)
        self.set_value(current)

    def _add_options(self, combo: QComboBox, options: list) -> None:
        for option in options:   # the item's data is the YAML value; its text what a person reads
            combo.addItem(self._choice_label(str(option)), str(option))

    def _choice_label(self, option: str) -> str:
        """What a choice shows: the YAML value itself (a name such as bf16 or cosine), words translated."""
        return {"on": self.tr("on"), "off": self.tr("off")}.get(option, option)

    def value(self) -> Any:
        w = self.widget
        if self.kind == "choice":
            return w.currentData()
        if self.kind == "bool":
            return w.isChecked()
        if self.kind == "int":
            return w.value()
        if self.kind == "int_auto":
            return w.value() or "auto"
        text = w.text().strip()
        if self.kind == "float":
            try:
                return float(text)
            except ValueError:
                raise ValueError(f"{text!r} is not a number") from None
        if self.kind == "list":
            return [p.strip() for p in text.split(",") if p.strip()]
        return text or (None if self.nullable else "")

    def set_value(self, value: Any) -> None:
        w = self.widget
        w.blockSignals(True)
        try:
            if self.kind == "choice":
                i = w.findData(str(value))
                if i < 0 and value is not None:
                    w.addItem(self._choice_label(str(value)), str(value))
                    i = w.count() - 1
                w.setCurrentIndex(max(i, 0))
            elif self.kind == "bool":
                w.setChecked(bool(value))
            elif self.kind == "int":
                w.setValue(int(value or 0))
            elif self.kind == "int_auto":
                w.setValue(0 if value == "auto" else int(value or 0))
            elif self.kind == "float":
                w.setText("" if value is None else f"{float(value):g}")
            elif self.kind == "list":
                w.setText(", ".join(value or []))
            else:
                w.setText("" if value is None else str(value))
        finally:
            w.blockSignals(False)
        self.changed.emit()

    def show_error(self, reason: str | None) -> None:
        self.error.setText(reason or "")
        self.error.setVisible(bool(reason))
        self.widget.setProperty("invalid", bool(reason))
        self.widget.style().unpolish(self.widget)
        self.widget.style().polish(self.widget)

    def set_visible(self, visible: bool) -> None:
        for w in (self.label, self.widget, self.error):
            w.setVisible(visible and (w is not self.error or bool(self.error.text())))
        if getattr(self, "_row", None) is not None:  # a hidden row's box would keep the form's spacing
            self._row.setVisible(visible)

    def row(self) -> QWidget:
        """The widget and its reason label stacked, for a form layout's field column."""
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        line = QHBoxLayout()
        line.addWidget(self.widget)
        line.addStretch(1)
        lay.addLayout(line)
        lay.addWidget(self.error)
        self._row = box
        return box


class FieldGroup(QObject):
    """Fields of several config keys in one QFormLayout; reads them into a nested document."""

    changed = Signal()

    def __init__(self, knobs: dict, keys: list[str], options: dict[str, list[str]] | None = None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.fields: dict[str, Field] = {}
        for key in keys:
            section, name = key.split(".", 1)
            info = (knobs.get(section) or {}).get(name)
            if info is None:
                continue  # this engine does not have the knob: nothing to show
            f = Field(key, info.get("default"), knob_help(info), (options or {}).get(key), label=knob_label(info),
                      parent=self, auto=info.get("type") == "int | str")
            f.changed.connect(self.changed)
            self.fields[key] = f
            self.form.addRow(f.label, f.row())

    def values(self) -> tuple[dict, dict[str, str]]:
        """({section: {name: value}}, {key: reason}) for the fields whose text does not parse."""
        doc: dict = {}
        bad: dict[str, str] = {}
        for key, f in self.fields.items():
            section, name = key.split(".", 1)
            try:
                doc.setdefault(section, {})[name] = f.value()
            except ValueError as e:
                bad[key] = str(e)
        return doc, bad

    def set_values(self, doc: dict) -> None:
        for key, f in self.fields.items():
            section, name = key.split(".", 1)
            if name in (doc.get(section) or {}):
                f.set_value(doc[section][name])

    def show_errors(self, errors: dict[str, str]) -> None:
        for key, f in self.fields.items():
            f.show_error(errors.get(key))
