"""`minigpt`: the engine's command line. Parses arguments, sets up events, and turns every UserError into
one clear message (plus an `error` event) and a non-zero exit, so a traceback is never the only explanation.

Subcommands: train, tokenizer train|encode, data check|builtin, chat, serve, control, doctor.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback

from engine.cli_inference import add_quantize_flag
from engine.errors import UserError
from engine.protocol import SAMPLING_DEFAULTS
from engine.stages import STAGES, stage_help

EXIT_USER_ERROR = 2
ENCODING_HELP = "text encoding of the data files: utf-8 (default), auto (guess each file's), or a codec such as gb18030"
EXIT_BUG = 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="minigpt", description="Train, inspect and talk to small GPT models.")
    p.add_argument("--workspace", help="workspace folder (default: $MINIGPT_HOME or the user data folder)")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model (pretrain or SFT) from a YAML config or flags")
    t.add_argument("config", nargs="?", help="run YAML (sections model, tokenizer, data, stage, optim, hardware, run)")
    t.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value, e.g. --set optim.lr=1e-3 (repeatable)")
    t.add_argument("--stage", choices=list(STAGES), help=f"training stage: {stage_help()}")
    t.add_argument("--preset", help="model preset: tiny, small, medium, large")
    t.add_argument("--data", nargs="+", help="training files (.jsonl/.txt); default: the built-in dataset")
    t.add_argument("--tokenizer", help="folder or tokenizer.json to use (default: train one on the data, cached)")
    t.add_argument("--init", help="checkpoint (or run folder) whose weights start this run")
    t.add_argument("--resume", help="run folder or checkpoint to continue exactly where it stopped")
    t.add_argument("--max-steps", type=int, help="optimizer steps to train for")
    t.add_argument("--out", help="run folder to create (must be new or empty)")
    t.add_argument("--events", choices=["jsonl"], help="write protocol events as JSON lines on stdout")
    t.add_argument("--checkpoint-every", type=int, help="save a checkpoint every N steps")
    t.add_argument("--eval-every", type=int, help="evaluate every N steps")
    t.add_argument("--seed", type=int, help="random seed")
    t.add_argument("--nproc", type=int, help="train in N processes through torchrun (one per GPU; hardware.parallel "
                   "ddp or fsdp)")

    tok = sub.add_parser("tokenizer", help="tokenizer tools").add_subparsers(dest="tok_command", required=True)
    tt = tok.add_parser("train", help="train a byte-level BPE tokenizer on data files")
    tt.add_argument("--data", nargs="+", required=True, help="data files, or 'builtin'")
    tt.add_argument("--vocab-size", type=int, required=True)
    tt.add_argument("--out", required=True, help="folder to write tokenizer.json into")
    tt.add_argument("--sample-bytes", type=int, default=20_000_000, help="characters read from each file at most")
    tt.add_argument("--events", choices=["jsonl"], help="write progress events as JSON lines on stdout")
    tt.add_argument("--encoding", default="utf-8", help=ENCODING_HELP)
    te = tok.add_parser("encode", help="show how texts split into tokens (pieces with their ids)")
    te.add_argument("tokenizer", help="tokenizer.json or a folder holding one")
    te.add_argument("texts", nargs="+", help="texts to encode")
    te.add_argument("--json", action="store_true", help="print {vocab_size, texts: [{text, ids, pieces}]} as JSON")

    d = sub.add_parser("data", help="data tools").add_subparsers(dest="data_command", required=True)
    dc = d.add_parser("check", help="detect the format of data files and report bad lines")
    dc.add_argument("paths", nargs="+")
    dc.add_argument("--json", action="store_true", help="print the reports as JSON")
    dc.add_argument("--encoding", default="utf-8", help=ENCODING_HELP)
    d.add_parser("builtin", help="generate the built-in dataset into the workspace (if needed) and print its "
                 "manifest as JSON")

    c = sub.add_parser("chat", help="chat with a checkpoint in the terminal (streaming)")
    c.add_argument("checkpoint")
    c.add_argument("--system", default="", help="system prompt")
    c.add_argument("--temperature", type=float, default=SAMPLING_DEFAULTS.temperature)
    c.add_argument("--top-k", type=int, default=SAMPLING_DEFAULTS.top_k)
    c.add_argument("--top-p", type=float, default=SAMPLING_DEFAULTS.top_p)
    c.add_argument("--max-new-tokens", type=int, default=SAMPLING_DEFAULTS.max_new_tokens)
    c.add_argument("--device", default="auto")
    add_quantize_flag(c)

    s = sub.add_parser("serve", help="serve a checkpoint: the studio's chat protocol (--stdio) or an "
                       "OpenAI-compatible HTTP API (--http)")
    s.add_argument("checkpoint")
    how = s.add_mutually_exclusive_group(required=True)
    how.add_argument("--stdio", action="store_true", help="JSON-lines protocol on stdin/stdout")
    how.add_argument("--http", metavar="HOST:PORT", help="OpenAI-compatible server, e.g. 127.0.0.1:8000 "
                     "(a bare port binds 127.0.0.1 only)")
    s.add_argument("--api-key", help="with --http: require 'Authorization: Bearer KEY' (set one beyond 127.0.0.1)")
    s.add_argument("--device", default="auto")
    s.add_argument("--max-batch", type=int, default=16, help="replies decoded together (1 = one at a time)")
    add_quantize_flag(s)

    from engine.cli_inference import add_inference_parsers  # generate, eval, export, serve --http
    add_inference_parsers(sub)
    from engine.cli_lora import add_lora_parser  # lora merge
    add_lora_parser(sub)

    ctl = sub.add_parser("control", help="pause, resume, save or stop a running training run through its folder")
    ctl.add_argument("run_dir", help="the run folder (workspace/runs/<run-id>)")
    ctl.add_argument("action", choices=["pause", "resume", "save", "stop"])
    ctl.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the engine to act (default 30)")

    doc = sub.add_parser("doctor", help="report python, torch, devices, memory and what this engine offers")
    doc.add_argument("--json", action="store_true")
    doc.add_argument("--calibrate", metavar="PRESET", help="time a few real training steps of a model preset here "
                     "(cached in the workspace per device, torch, preset and precision) for the wizard's ETA")
    doc.add_argument("--device", default="auto", help="with --calibrate: the device to measure")
    doc.add_argument("--precision", default="auto", help="with --calibrate: the precision to measure")
    doc.add_argument("--fresh", action="store_true", help="with --calibrate: measure again, ignoring the cache")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "control":  # stdlib only: answers without torch's start-up time
        from engine.control import main_control
        return main_control(args)
    from engine.subcommands import dispatch  # heavy imports (torch) only after argument parsing
    return dispatch(args)


def report_failure(exc: BaseException, sink=None) -> int:
    """Print one clear message for a UserError; a traceback only for engine bugs. Returns the exit code."""
    if isinstance(exc, UserError):
        if sink is not None:
            try:  # the events file may sit on the disk that just filled up
                sink.emit("error", kind=exc.kind, message=exc.message, hint=exc.hint, traceback=None)
                sink.emit("done", status="failed", summary={"error": exc.message})
            except OSError:
                pass
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return EXIT_USER_ERROR
    tb = "".join(traceback.format_exception(exc))
    if sink is not None:
        sink.emit("error", kind="internal", message=f"{type(exc).__name__}: {exc}",
                  hint="this is a bug in the engine; the traceback says where", traceback=tb)
        sink.emit("done", status="failed", summary={"error": str(exc)})
    print(tb, file=sys.stderr)
    print(f"error: internal failure: {type(exc).__name__}: {exc}", file=sys.stderr)
    return EXIT_BUG


def print_json(obj) -> None:
    print(json.dumps(obj, indent=1, ensure_ascii=False, default=str))


if __name__ == "__main__":
    sys.exit(main())
