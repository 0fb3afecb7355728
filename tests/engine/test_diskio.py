"""engine.diskio: durable writes (fsync of the file and its folder around the rename) and OS refusals turned into
one message. A power cut cannot be staged in a test, so the order of fsyncs and renames is recorded instead."""

from __future__ import annotations

import errno
import os
import resource
import signal
from pathlib import Path

import pytest
import torch

from engine import checkpoint as ckpt
from engine import diskio
from engine.errors import UserError
from engine.model.gpt import GPT

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names fds through /proc (Linux)")


@pytest.fixture
def journal(monkeypatch) -> list[tuple[str, str]]:
    """Every fsync (by path) and rename, in order."""
    log: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        log.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst):
        log.append(("rename", f"{src} -> {dst}"))
        real_replace(src, dst)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return log


def test_atomic_write_fsyncs_the_file_and_its_folder_before_and_after_the_rename(tmp_path, journal):
    target = tmp_path / "latest"
    diskio.atomic_write_text(target, "step-000004\n")
    assert target.read_text() == "step-000004\n"
    tmp = tmp_path / f".latest.tmp-{os.getpid()}"
    assert journal == [("fsync", str(tmp)), ("fsync", str(tmp_path)), ("rename", f"{tmp} -> {target}"),
                       ("fsync", str(tmp_path))]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest"]


def test_a_checkpoint_is_fsynced_whole_before_its_folder_gets_its_name(model_cfg, tok, tmp_path, journal):
    torch.manual_seed(0)
    cfg = model_cfg()
    root = tmp_path / "checkpoints"
    folder = ckpt.save_checkpoint(root, 3, GPT(cfg), cfg, tok.to_json(), {"step": 3}, {"stage": "pretrain"})
    rename = next(i for i, (kind, what) in enumerate(journal) if kind == "rename" and what.endswith(str(folder)))
    synced_before = {Path(p).name for kind, p in journal[:rename] if kind == "fsync"}
    assert {"model.safetensors", "config.json", "tokenizer.json", "trainer_state.pt"} <= synced_before
    assert f".step-000003.tmp-{os.getpid()}" in synced_before and "checkpoints" in synced_before  # both folders
    assert ("fsync", str(root)) in journal[rename + 1:]
    assert (root / "latest").read_text().strip() == "step-000003"


ENFORCE_FAIL = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")


@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, "No space left on device"), ENFORCE_FAIL],
                         ids=["ENOSPC", "torch enforce fail"])
def test_a_full_disk_mid_checkpoint_is_one_message_and_leaves_nothing_half_written(model_cfg, tok, tmp_path,
                                                                                    monkeypatch, failure):
    cfg = model_cfg()
    root = tmp_path / "checkpoints"
    ckpt.save_checkpoint(root, 1, GPT(cfg), cfg, tok.to_json(), {"step": 1}, {"stage": "pretrain"})

    def full(*_a, **_k):
        raise failure
    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(UserError) as e:
        ckpt.save_checkpoint(root, 2, GPT(cfg), cfg, tok.to_json(), {"step": 2}, {"stage": "pretrain"})
    assert e.value.kind == "disk" and "checkpoint step-000002" in e.value.message and "free)" in e.value.message
    assert str(root) in e.value.message and e.value.hint
    assert sorted(p.name for p in root.iterdir()) == ["latest", "step-000001"]  # the previous one is intact
    assert (root / "latest").read_text().strip() == "step-000001"


def test_a_file_size_limit_on_a_real_write_is_named(tmp_path):
    old = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, old[1]))
    try:
        with pytest.raises(UserError) as e:
            diskio.atomic_write_text(tmp_path / "run.yaml", "x" * 5000, what="run.yaml")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old)
        signal.signal(signal.SIGXFSZ, handler)
    assert "file-size limit" in e.value.message and "run.yaml" in e.value.message
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary


@pytest.mark.parametrize("exc, needle", [
    (RuntimeError("Symlink loop from '/x/loop'"), "/x/loop: a symbolic link loop"),
    (OSError(errno.ELOOP, "Too many levels of symbolic links", "/x/loop"), "/x/loop: a symbolic link loop"),
    (NotADirectoryError(errno.ENOTDIR, "Not a directory", "/x/file/run"), "/x/file/run: a part of this path is a file"),
    (PermissionError(errno.EACCES, "Permission denied", "/root/x"), "/root/x: permission denied"),
    (OSError(errno.ENOSPC, "No space left on device", "/x/out"), "/x/out: the disk is full"),
])
def test_os_refusals_about_a_path_become_one_message(exc, needle):
    err = diskio.path_error(exc)
    assert isinstance(err, UserError) and err.message.startswith(needle) and err.hint


@pytest.mark.parametrize("exc", [RuntimeError("shape mismatch"), OSError(errno.EIO, "I/O error"), ValueError("x")])
def test_other_failures_stay_bugs(exc):
    assert diskio.path_error(exc) is None
