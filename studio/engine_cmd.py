"""How the studio starts engine processes: the program and arguments of `minigpt ...` and the workspace.

Only argument lists live here; the processes themselves are owned by engine_client, chat_client and doctor_call.
Tests swap the engine for a fake one by passing another `prefix`.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from engine.config import default_workspace

ENGINE_ENV = "MINIGPT_STUDIO_ENGINE"  # a command prefix that replaces `python -m engine.cli` (tests, packaging)


def default_prefix() -> list[str]:
    env = os.environ.get(ENGINE_ENV)
    if env:
        import shlex
        return shlex.split(env)
    return [sys.executable, "-m", "engine.cli"]


@dataclass
class EngineCommand:
    """Builds argv lists for one workspace."""

    workspace: Path = field(default_factory=default_workspace)
    prefix: list[str] = field(default_factory=default_prefix)

    def argv(self, *args: str) -> list[str]:
        return [*self.prefix, "--workspace", str(self.workspace), *args]

    def train(self, config_path: str | Path, extra: list[str] = ()) -> list[str]:
        return self.argv("train", str(config_path), "--events", "jsonl", *extra)

    def resume(self, run_dir: str | Path, extra: list[str] = ()) -> list[str]:
        return self.argv("train", "--resume", str(run_dir), "--events", "jsonl", *extra)

    def tokenizer(self, data: list[str], vocab_size: int, out: str | Path, sample_bytes: int) -> list[str]:
        return self.argv("tokenizer", "train", "--data", *data, "--vocab-size", str(vocab_size), "--out", str(out),
                         "--sample-bytes", str(sample_bytes), "--events", "jsonl")

    def serve(self, checkpoint: str | Path, int8: bool = False) -> list[str]:
        """The chat server; int8: int8 Linear weights, which run on the CPU only (faster decoding there)."""
        extra = ["--quantize", "int8", "--device", "cpu"] if int8 else []
        return self.argv("serve", str(checkpoint), "--stdio", *extra)

    def doctor(self) -> list[str]:
        return self.argv("doctor", "--json")

    def shell_line(self, argv: list[str]) -> str:
        """A copy-pasteable command line, spelled with the `minigpt` console script."""
        import shlex
        args = argv[len(self.prefix):]
        if self.prefix[-2:] == ["-m", "engine.cli"]:
            return shlex.join(["minigpt", *args])
        return shlex.join([*self.prefix, *args])

    @property
    def runs_dir(self) -> Path:
        return self.workspace / "runs"

    @property
    def studio_dir(self) -> Path:
        """Where the studio keeps its own files in the workspace (launched configs, engine stderr logs)."""
        return self.workspace / "studio"
