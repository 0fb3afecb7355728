"""bench/compare.py's bookkeeping, without training: every row pins the same fair settings and differs only in its
own knob, a finished row is kept and read back on a rerun only when it was made with the same arguments, and the
--jobs scheduler trains a prerequisite before the rows that need it and a shared row (adamw = dense tiny) once."""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compare():
    spec = importlib.util.spec_from_file_location("bench_compare", ROOT / "bench" / "compare.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_compare"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("bench_compare", None)


def test_rows_share_steps_seed_precision_and_threads_and_differ_in_their_own_knob(compare):
    rows = {r.slug: r for r in compare.plan([])}
    assert len(rows) == 11 and len({r.slug for r in compare.plan([])}) == 11
    args = {slug: compare.row_args(r, 150, 1, [], {"base": "B", "teacher": "T"}) for slug, r in rows.items()}
    for argv in args.values():
        for fair in [*compare.FAIR, "hardware.threads=1"]:
            assert fair in argv
        assert argv[argv.index("--max-steps") + 1] == "150"
    extra = set(args["optim-lion"]) - set(args["optim-adamw"])
    assert extra == {"optim.name=lion"}
    assert args["optim-adamw"] == args["moe-dense-tiny"]
    assert set(args["lora-lora-r4"]) - set(args["lora-full-sft"]) == {"lora.rank=4"}
    assert "stage.teacher=T" in args["distill-distilled"] and "--init" in args["lora-full-sft"]


def test_a_finished_row_is_kept_only_for_the_same_arguments(compare, tmp_path):
    store = compare.Store(tmp_path)
    store.put("optim-adamw", ["--max-steps", "150"], {"status": "ok", "val_loss": 2.5})
    assert store.get("optim-adamw", ["--max-steps", "150"]) == {"status": "ok", "val_loss": 2.5}
    assert store.get("optim-adamw", ["--max-steps", "200"]) is None  # other settings: train again
    assert store.get("optim-lion", ["--max-steps", "150"]) is None
    (tmp_path / "optim-lion.json").write_text("{not json")  # a torn file is not a result
    assert store.get("optim-lion", []) is None


def test_the_scheduler_trains_prerequisites_first_and_a_shared_row_once(compare, tmp_path, monkeypatch):
    trained, lock = [], threading.Lock()

    def fake_train(argv, out, workspace, log):  # the subprocess is what the other tests run for real
        with lock:
            trained.append(out.name)
        if "--init" in argv:
            assert "base" in trained  # a LoRA row starts only once its base exists
        return {"status": "ok", "val_loss": 1.0, "accuracy": 0.0, "tokens_per_s": 1.0, "tokens": 4, "peak_mem": 1,
                "wall_s": 1.0, "lr": "3e-3"}

    monkeypatch.setattr(compare, "train", fake_train)
    rows = compare.plan(["optim:adamw", "moe", "lora"])
    args = SimpleNamespace(jobs=2, steps=5, threads=1, set=[], teacher=None, base=None)
    compare.run_all(rows, args, compare.Store(tmp_path), tmp_path, lambda m: None)
    assert sorted(trained) == ["base", "lora-full-sft", "lora-lora-r4", "moe-moe-tiny", "optim-adamw"]
    assert all(r.result["status"] == "ok" for r in rows)
    trained.clear()
    compare.run_all(compare.plan(["optim:adamw", "moe", "lora"]), args, compare.Store(tmp_path), tmp_path,
                    lambda m: None)
    assert trained == []  # a rerun keeps every finished row
    assert "| optim | adamw | 1.000 |" in compare.markdown(rows)
