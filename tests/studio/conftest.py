"""Studio test set-up: offscreen Qt, a throwaway QSettings folder, one workspace per session (so the built-in
data and tokenizer cache of the real-engine tests are built once), and the fake engine's command prefix."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

# Defined once here, not imported into each test module: an imported fixture is a new fixture per module, and the
# session-scoped checkpoints were trained again by each of the five modules that use them (~20 s each).
from chat_checkpoints import chat_workspace  # noqa: E402, F401 - the shared fixture

FAKE = str(Path(__file__).with_name("fake_engine.py"))


@pytest.fixture(scope="session", autouse=True)
def _settings_dir(tmp_path_factory):
    from studio import settings
    settings.use_settings_dir(tmp_path_factory.mktemp("settings"))


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Path:
    """One workspace for the whole session: the real engine builds its data and tokenizer cache here once."""
    ws = tmp_path_factory.mktemp("workspace")
    os.environ["MINIGPT_HOME"] = str(ws)
    return ws


@pytest.fixture
def fake_workspace(tmp_path) -> Path:
    return tmp_path / "ws"


def fake_prefix(mode: str) -> list[str]:
    return [sys.executable, FAKE, mode]


@pytest.fixture
def fake_command(fake_workspace):
    from studio.engine_cmd import EngineCommand

    def make(mode: str) -> EngineCommand:
        return EngineCommand(workspace=fake_workspace, prefix=fake_prefix(mode))
    return make


@pytest.fixture(autouse=True)
def _never_block_on_the_close_question(monkeypatch):
    """A window closed by pytest-qt's teardown while a run still trains would show the modal "Runs are still
    training" box, and offscreen nobody answers it: the suite would hang. Answer Stop and save instead (runs end
    cleanly); a test that asks its own question replaces window.close_prompt as before."""
    from studio.views import main_window
    from studio.views.close_dialog import STOP
    monkeypatch.setattr(main_window, "ask_close", lambda parent, running: STOP)
