"""The Monitor page: one tab per run being watched (live or re-plotted), closable once the run has ended."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QStackedWidget, QTabWidget, QWidget

from studio.i18n import status_text
from studio.run_session import RunSession
from studio.views.monitor import MonitorView


class MonitorTabs(QStackedWidget):
    chat_requested = Signal(str)
    tab_closed = Signal(object)     # RunSession

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        empty = QLabel(self.tr("No run is being monitored.\nLaunch one from Train, or open a past run from Runs."))
        empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        empty.setObjectName("hintLabel")
        self.tabs = QTabWidget()
        self.tabs.setObjectName("monitorTabs")
        self.tabs.setTabsClosable(True)
        self.tabs.setDocumentMode(True)
        self.tabs.setElideMode(Qt.TextElideMode.ElideMiddle)
        self.tabs.tabCloseRequested.connect(self._on_close_requested)
        self.addWidget(empty)
        self.addWidget(self.tabs)

    def add(self, session: RunSession) -> MonitorView:
        view = self.view_for(session)
        if view is None:
            view = MonitorView(session)
            view.chat_requested.connect(self.chat_requested)
            i = self.tabs.addTab(view, session.state.name or "run")
            session.state.status_changed.connect(lambda _s, v=view: self._retitle(v))
            session.state.reloaded.connect(lambda v=view: self._retitle(v))
            self.tabs.setCurrentIndex(i)
        self.tabs.setCurrentWidget(view)
        self.setCurrentIndex(1)
        return view

    def view_for(self, session: RunSession) -> MonitorView | None:
        for i in range(self.tabs.count()):
            if self.tabs.widget(i).session is session:
                return self.tabs.widget(i)
        return None

    def current(self) -> MonitorView | None:
        return self.tabs.currentWidget()

    def _retitle(self, view: MonitorView) -> None:
        i = self.tabs.indexOf(view)
        if i >= 0:
            s = view.state
            self.tabs.setTabText(i, f"{s.name} · {status_text(s.status)}")
            self.tabs.setTabToolTip(i, f"{s.name} · {status_text(s.status)}")   # tabs elide in a narrow window

    def _on_close_requested(self, i: int) -> None:
        view = self.tabs.widget(i)
        if view.session.live:
            view.setFocus()
            return  # a live run's tab stays until the run ends (Stop first)
        self.tabs.removeTab(i)
        view.close_view()
        view.deleteLater()
        self.tab_closed.emit(view.session)
        if self.tabs.count() == 0:
            self.setCurrentIndex(0)
