"""Every wizard page stays readable in a 1024×700 window: no label is cut, the window can shrink that far, and a
data file's status line ("· 2 bad") is shown whole even for a long file name."""

from __future__ import annotations

import json

import pytest
from PySide6.QtWidgets import QComboBox, QLabel

from studio import settings
from studio.engine_cmd import EngineCommand
from studio.views.main_window import MainWindow

SIZE = (1024, 700)


def clipped_labels(root) -> list[str]:
    out = []
    for label in root.findChildren(QLabel):
        if not label.isVisibleTo(root) or not label.text():
            continue
        if label.wordWrap():
            need = label.heightForWidth(label.width())
            if need > label.height() + 1:
                out.append(f"{label.objectName() or label.text()[:40]!r}: {label.height()} < {need} px high")
        elif label.sizeHint().width() > label.width() + 1:
            out.append(f"{label.objectName() or label.text()[:40]!r}: {label.width()} < {label.sizeHint().width()} px")
    return out


@pytest.fixture
def window(qtbot, tmp_path):
    settings.settings().remove("wizard/last_document")    # a first start, not the values an earlier test launched
    win = MainWindow(EngineCommand(workspace=tmp_path / "ws"), run_doctor=False)
    qtbot.addWidget(win)
    win.resize(*SIZE)
    win.show()
    win.show_page(0)        # the window reopens the page it was last closed on; measure the wizard on Train
    qtbot.waitExposed(win)
    return win


def test_pages_fit_1024x700(qtbot, window):
    wiz = window.wizard
    wiz.set_doctor_report({"options": {"devices": ["auto", "cpu"], "precisions": ["auto", "fp32"]},
                           "default_device": "cpu", "cpu": {"name": "x86_64", "cores": 2},
                           "memory": {"total": 2**30, "available": 2**29}, "cuda": {"gpus": []}})
    wiz.calibration.results[("medium", "auto", "auto")] = {"preset": "medium", "device": "CPU", "precision": "fp32",
                                                           "flops_per_s": 1e10}
    wiz.go_to(2)
    wiz.stage.top.fields["model.preset"].set_value("medium")    # a memory and a time warning on Review
    for i in range(5):
        wiz.go_to(i)
        qtbot.wait(50)
        assert window.size().width() == SIZE[0] and window.size().height() == SIZE[1]
        hint = window.minimumSizeHint()
        assert hint.width() <= SIZE[0] and hint.height() <= SIZE[1], (i, hint)
        # the page, the step bar and the reason beside Next, once the layout has taken in late texts (previews)
        qtbot.waitUntil(lambda: clipped_labels(wiz) == [], timeout=5000)
    assert "⚠" in wiz.review.cost.text() and wiz.review.cost.isVisible()
    wiz.go_to(3)                                                 # the doctor's report rebuilt the knobs once
    devices = [w for w in wiz.hardware.findChildren(QComboBox, "field:hardware.device") if w.isVisible()]
    assert len(devices) == 1
    assert "days" in wiz.hardware.cost.text() and "⚠" in wiz.hardware.cost.text()


def test_data_list_shows_bad_count_with_a_long_name(qtbot, window, tmp_path):
    path = tmp_path / ("conversations_exported_from_the_support_desk_2026_" + "x" * 20 + ".jsonl")
    lines = [json.dumps({"text": f"line {i}"}) for i in range(60)] + ["{broken", "{also broken"]
    path.write_text("\n".join(lines) + "\n")
    page = window.wizard.data
    page.add_files([str(path)])
    qtbot.waitUntil(lambda: str(path) in page.results and page._worker is None, timeout=20_000)
    item = page.files.item(0)
    status = item.text().splitlines()[-1].strip()
    assert status.endswith("· 2 bad"), item.text()
    fm = page.files.fontMetrics()
    assert fm.horizontalAdvance(status) < page.files.viewport().width()
    assert page.files.visualItemRect(item).height() >= 2 * fm.height()   # name and status on their own lines
