"""A Data page deleted while it scans a file: the scan's late report (cancelled by shutdown) is dropped, not run
against the page's deleted widgets."""

from __future__ import annotations

import json

from studio import workers
from studio.engine_cmd import EngineCommand
from studio.views.wizard import TrainWizard


def test_a_scan_reporting_after_the_page_is_deleted_is_dropped(qtbot, tmp_path):
    big = tmp_path / "big.jsonl"
    line = json.dumps({"text": "the quick brown fox jumps over the lazy dog " * 20}) + "\n"
    big.write_text(line * 60_000, encoding="utf-8")               # ~55 MB: the scan is still running when deleted
    wizard = TrainWizard(EngineCommand(workspace=tmp_path / "ws"))
    wizard.show()
    page = wizard.data
    page.add_files([str(big)])
    qtbot.waitUntil(lambda: page._worker is not None, timeout=10_000)
    worker = page._worker
    wizard.shutdown()
    wizard.deleteLater()
    qtbot.waitUntil(lambda: worker not in workers._alive, timeout=60_000)   # its signals have all been delivered
    qtbot.wait(100)
