"""The base of every wizard page: a title, a validity reason that blocks Next, and the shared RunDocument.

A page writes its values into the document as they change and answers `reason()`: None when it is complete,
else one sentence saying what blocks Next (shown beside the Next button and beside the field at fault).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from studio.i18n import tr
from studio.models.run_document import RunDocument


class WizardPage(QWidget):
    validity_changed = Signal()
    title = ""
    subtitle = ""

    def __init__(self, doc: RunDocument, parent: QWidget | None = None):
        super().__init__(parent)
        self.doc = doc
        self.outer = QVBoxLayout(self)
        self.outer.setContentsMargins(24, 16, 24, 8)
        heading = QLabel(tr(self.title))   # QT_TR_NOOP in a class body: lupdate's empty context
        heading.setObjectName("pageTitle")
        sub = QLabel(tr(self.subtitle))
        sub.setObjectName("pageSubtitle")
        sub.setWordWrap(True)
        self.outer.addWidget(heading)
        self.outer.addWidget(sub)

    def reason(self) -> str | None:
        """None when Next may proceed, else why not."""
        return None

    def entered(self) -> None:
        """Called each time the page is shown."""

    def shutdown(self) -> None:
        """Cancel background work (the window is closing)."""
