"""`python -m studio.screenshots --out docs/images`: drive the real app offscreen and save a PNG of every
wizard page, the monitor during a real short tiny run (with task accuracy and a "Save now"), the Runs table and
the Chat tab with its Look inside token and attention views, each at 1280x800 and at 1024x700
(`<page>-1280x800.png`, `<page>-1024x700.png`). `--lang zh` takes the same set in 简体中文 (`<page>-zh-1280x800.png`).

Uses a throwaway workspace (or --workspace) and throwaway settings; the light palette for stable images.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

RUN = {"run.max_steps": 80, "run.log_every": 1, "run.eval_every": 20, "run.eval_batches": 2,
       "run.task_eval_items": 28, "run.sample_tokens": 16, "run.batch_size": 8, "data.seq_len": 64,
       "run.checkpoint_every": 40, "optim.warmup_steps": 10, "run.name": "tiny-demo"}
SIZES = ((1280, 800), (1024, 700))


def wait(app, pred, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise SystemExit(f"screenshots: timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.02)


def settle(app, seconds: float = 0.4) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def sample_file(folder: Path) -> Path:
    """A small chat file with two bad lines, to show format detection and the bad-line report."""
    path = folder / "my_chats.jsonl"
    lines = [json.dumps({"messages": [{"role": "user", "content": f"What is {i} + {i}?"},
                                      {"role": "assistant", "content": f"{i} + {i} = {2 * i}."}]}) for i in range(40)]
    lines.insert(7, '{"messages": [{"role": "user", "content": "unterminated')
    lines.insert(19, json.dumps({"messages": "not a list"}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs/images")
    p.add_argument("--workspace", help="workspace for the demo run (default: a new temporary folder)")
    p.add_argument("--lang", choices=("en", "zh"), default="en", help="interface language (zh: files named *-zh-*)")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="minigpt-shots-"))
    workspace = Path(args.workspace or tmp / "workspace")

    from studio import settings
    settings.use_settings_dir(tmp / "settings")
    settings.set_value("ui/language", args.lang)      # create_app installs its translator
    suffix = "-zh" if args.lang == "zh" else ""
    from studio.app import create_app
    from studio.theme import apply_theme
    app = create_app([sys.argv[0]])
    apply_theme(app, dark=False)
    from studio.engine_cmd import EngineCommand
    from studio.views.main_window import MainWindow

    win = MainWindow(EngineCommand(workspace=workspace))
    win.close_prompt = lambda *_: "stop"
    win.resize(*SIZES[0])
    win.show()
    wiz = win.wizard

    def shot(name: str) -> None:
        if name != "monitor":
            win.statusBar().clearMessage()      # the demo run's last "checkpoint saved" belongs to the monitor
        for w, h in SIZES:
            win.resize(w, h)
            settle(app)
            view = win.monitors.current()
            if view is not None and view.isVisible():     # every plot built and drawn before the picture
                view.plots.build_all()
                view.plots.refresh()
                settle(app, 0.3)
            path = out / f"{name}{suffix}-{w}x{h}.png"
            win.grab().save(str(path))
            print(f"wrote {path}")
        win.resize(*SIZES[0])

    wait(app, lambda: win.doctor.report is not None, 90, "minigpt doctor")
    fields = {k: f for g in wiz.stage.groups.values() for k, f in g.fields.items()}
    for key, value in RUN.items():
        fields[key].set_value(value)
    wiz.hardware.fields.fields["hardware.device"].set_value("cpu")
    wiz.go_to(4)
    wait(app, lambda: wiz.review.launch.isEnabled(), 10, "a valid config")
    wiz.review.launch.click()
    view = win.monitors.current()
    wait(app, lambda: view.state.step >= 45 or view.state.finished, 600, "the demo run to train")
    if view.state.status == "failed":
        raise SystemExit(f"screenshots: the demo run failed: {view.state.error}")
    view.side.setCurrentIndex(0)
    if view.save.isEnabled():          # show the "checkpoint saved" notice
        saved = len(view.state.checkpoints)
        view.save.click()
        wait(app, lambda: len(view.state.checkpoints) > saved or view.state.finished, 120, "Save now")
    shot("monitor")
    wait(app, lambda: view.state.finished and not view.session.live, 600, "the demo run to finish")

    win.show_page(0)
    wiz.go_to(0)
    settle(app, 1.0)
    shot("wizard-1-data")
    wiz.data.builtin.setChecked(False)
    wiz.data.add_files([str(sample_file(tmp))])
    wait(app, lambda: wiz.data._worker is None and wiz.data.results, 30, "the data scan")
    wiz.data.files.setCurrentRow(0)
    shot("wizard-1-data-file")
    wiz.data.files.setCurrentRow(0)
    wiz.data._on_remove_clicked()
    wiz.data.builtin.setChecked(True)
    wiz.go_to(1)
    toks = sorted(Path(workspace, "tokenizers").glob("*/tokenizer.json"))
    if toks:
        wiz.tokenizer.existing.setChecked(True)
        wiz.tokenizer.known.setEditText(str(toks[0]))
        settle(app, 1.5)
    shot("wizard-2-tokenizer")
    wiz.tokenizer.auto.setChecked(True)
    wiz.go_to(2)
    shot("wizard-3-stage")
    wiz.go_to(3)
    shot("wizard-4-hardware")
    wiz.go_to(4)
    shot("wizard-5-review")

    win.show_page(2)
    wait(app, lambda: win.table.find(view.state.run_dir) >= 0
         and win.table.run_at(win.table.find(view.state.run_dir)).latest_ckpt, 30, "the Runs table")
    win.runs.select_path(view.state.run_dir)
    shot("runs")

    run = win.table.run_at(win.table.find(view.state.run_dir))
    win.open_chat(run.checkpoint)
    wait(app, lambda: win.chat_client.is_ready, 120, "the chat server")
    win.chat.controls["max_new_tokens"].setValue(40)
    win.chat.controls["seed"].setValue(3)
    for question in ("What is 12 + 35?", "今天天气怎么样？"):
        win.chat.input.setPlainText(question)
        win.chat.send.click()
        wait(app, lambda: win.chat._reply_index is None, 120, "a chat reply")
    shot("chat")
    win.chat.look_inside.setChecked(True)                 # Chat → Look inside: the last reply's tokens, then attention
    wait(app, lambda: bool(win.chat.inside.tokens.tokens), 120, "an inspection")
    settle(app, 0.5)
    shot("chat-inside-tokens")
    win.chat.inside.tabs.setCurrentIndex(1)
    shot("chat-inside-attention")
    win.chat_client.close()
    win.close()
    settle(app, 0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
