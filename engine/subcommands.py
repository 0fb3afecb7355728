"""What each `minigpt` subcommand does, once its arguments are parsed (engine/cli.py holds the parser)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from engine.cli import print_json, report_failure
from engine.commands import CommandQueue
from engine.diskio import path_error, resolve_path
from engine.errors import UserError
from engine.events import EventSink, HumanDisplay, take_stdout


def make_sink(events: str | None) -> EventSink:
    from engine.events import NullSink
    if int(os.environ.get("RANK", "0")) > 0:  # a torchrun rank above 0: rank 0 speaks for the run
        return NullSink()
    if events == "jsonl":
        return EventSink(stream=take_stdout())
    return EventSink(display=HumanDisplay())


def dispatch(args) -> int:
    from engine.cli_inference import INFERENCE_HANDLERS
    from engine.cli_lora import cmd_lora
    handlers = {"train": cmd_train, "tokenizer": cmd_tokenizer, "data": cmd_data, "chat": cmd_chat,
                "serve": cmd_serve, "doctor": cmd_doctor, "lora": cmd_lora, **INFERENCE_HANDLERS}
    handler = handlers[args.command]
    if args.command == "train" and args.nproc is not None and "LOCAL_RANK" not in os.environ:
        from engine.train.distributed import launch  # before stdout is taken: the ranks inherit it
        try:
            launch(args.nproc, sys.argv[1:])  # execs torchrun (does not return) unless one process is asked for
        except UserError as e:
            return report_failure(e)
    sink = make_sink(getattr(args, "events", None)) if args.command in ("train", "tokenizer") else None
    if args.command == "serve" and args.stdio:
        sink = EventSink(stream=take_stdout())
    try:
        return handler(args, sink) or 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BaseException as e:  # noqa: BLE001 - every failure becomes one message and an error event
        if isinstance(e, SystemExit):
            raise
        return report_failure(path_error(e) or e, sink)


def train_extra(args) -> dict:
    """CLI flags as a partial config document (they win over the YAML file, --set wins over them)."""
    extra: dict = {}

    def put(section, key, value):
        if value is not None:
            extra.setdefault(section, {})[key] = value
    put("stage", "name", args.stage)
    put("model", "preset", args.preset or (None if args.config or args.resume else "tiny"))
    put("data", "train", args.data)
    put("tokenizer", "path", args.tokenizer)
    put("stage", "init", args.init)
    put("run", "max_steps", args.max_steps)
    put("run", "checkpoint_every", args.checkpoint_every)
    put("run", "eval_every", args.eval_every)
    put("run", "seed", args.seed)
    return extra


def cmd_train(args, sink: EventSink) -> int:
    from engine.config import check_limits, load_config
    from engine.workspace import resolve_workspace

    commands = CommandQueue(on_bad_line=lambda m: sink.log(m, "warning"))
    commands.install_signal_handlers()
    if args.events == "jsonl" and int(os.environ.get("RANK", "0")) == 0:  # stdin is rank 0's
        commands.read_stream(sys.stdin)
    workspace = resolve_workspace(args.workspace)
    requested = requested_document(args)
    if args.resume:
        from engine.train.run import run_training  # torch loads only once the arguments are known to be sane
        status = run_training(None, workspace, sink, commands, out=args.out, resume=args.resume,
                              resume_request=requested)
    else:
        refuse_empty_config(args.config, requested)
        cfg = load_config(args.config, args.overrides, extra=train_extra(args))
        check_limits(cfg)   # what this machine can hold, what can ever finish: before torch loads
        refuse_missing_data(cfg)
        from engine.train.run import run_training
        status = run_training(cfg, workspace, sink, commands, out=args.out)
    return 0 if status in ("completed", "stopped") else 1


def requested_document(args) -> dict:
    """What this command states explicitly (config file, flags, --set), paths made absolute, presets not expanded:
    on --resume each value is compared with the run's."""
    from engine.config import _resolve_paths, deep_merge, parse_override, read_yaml
    doc: dict = {}
    if args.config:
        path = resolve_path(args.config)
        doc = read_yaml(path)
        _resolve_paths(doc, path.parent)
    doc = deep_merge(doc, train_extra(args))
    for text in args.overrides:
        doc = deep_merge(doc, parse_override(text))
    _resolve_paths(doc, Path.cwd())
    return doc


def refuse_missing_data(cfg) -> None:
    """A data file that is not there is named at once, before torch loads and the run is set up (which takes
    seconds, or a minute on a busy machine); what is in the files is checked later, with the stage's record kind."""
    from engine.data.formats import existing_file
    for paths in (cfg.data.train, cfg.data.val):
        for p in paths:
            if p != "builtin":
                existing_file(p)


def refuse_empty_config(config: str | None, requested: dict) -> None:
    """An empty YAML file would train a default run nobody asked for: name what it lacks instead."""
    from engine.config import read_yaml
    if config is None or read_yaml(resolve_path(config)):
        return
    missing = [what for what, given in (
        ("stage.name (pretrain or sft)", (requested.get("stage") or {}).get("name")),
        ("a model (model.preset such as tiny, or model.d_model, model.n_layer, ...)", requested.get("model")),
    ) if not given]
    if missing:
        raise UserError(f"{config}: the config file is empty; missing {' and '.join(missing)}",
                        "write e.g. 'stage: {name: pretrain}' and 'model: {preset: tiny}' into it, or drop the file "
                        "and use --stage and --preset", kind="config")


def cmd_tokenizer(args, sink: EventSink) -> int:
    from engine.data import builtin, formats
    from engine.data.encoding import check_encoding
    from engine.data.sources import tokenizer_texts
    from engine.tokenizer import Tokenizer, train_tokenizer, vocab_shortfall
    from engine.workspace import resolve_workspace

    if args.tok_command == "encode":
        return _tokenizer_encode(Tokenizer.load(args.tokenizer), args.texts, args.json)
    check_encoding(args.encoding, "--encoding")

    out = Path(args.out)
    if (out / "tokenizer.json").exists():
        raise UserError(f"{out / 'tokenizer.json'} already exists", "choose a new --out folder", kind="output")
    if args.vocab_size < 300:
        raise UserError(f"--vocab-size {args.vocab_size} is too small", "use at least 300", kind="config")
    paths: list[Path] = []
    for d in args.data:
        if d == "builtin":
            ws = resolve_workspace(args.workspace)
            paths += [builtin.builtin_file(ws, "pretrain_train"), builtin.builtin_file(ws, "sft_train")]
        else:
            report = formats.validate_file(d, encoding=args.encoding)
            formats.check_bad_share(report)
            paths.append(Path(d))
    def progress(done: int, total: int) -> None:
        sink.emit("progress", phase="tokenizer", done=done, total=total)
    texts = tokenizer_texts(paths, args.sample_bytes, progress=progress, encoding=args.encoding)
    tok = train_tokenizer(texts, args.vocab_size)
    if tok.vocab_size < args.vocab_size:
        sink.log(vocab_shortfall(tok.vocab_size, args.vocab_size, "--vocab-size"), "warning")
    file = tok.save(out)
    samples = {"en": "The quick brown fox jumps over the lazy dog. What is 47 + 38?",
               "zh": "今天天气很好，我们去公园散步吧。"}
    ratios = {k: round(len(v) / max(1, len(tok.encode(v))), 2) for k, v in samples.items()}
    sink.emit("done", status="completed", summary={
        "path": str(file), "vocab_size": tok.vocab_size, "requested_vocab_size": args.vocab_size,
        "chars_per_token": ratios, "samples": {k: tok.token_pieces(v) for k, v in samples.items()}})
    return 0


def _tokenizer_encode(tok, texts: list[str], as_json: bool) -> int:
    """`minigpt tokenizer encode`: each text's ids and pieces (a character split over several tokens is one
    piece carrying all their ids, so the pieces join back to the text)."""
    out = []
    for text in texts:
        pieces = tok.token_pieces(text)
        ids = [i for piece in pieces for i in piece["ids"]]
        ratio = round(len(text) / max(1, len(ids)), 2)
        out.append({"text": text, "ids": ids, "pieces": pieces, "chars_per_token": ratio})
    if as_json:
        print_json({"vocab_size": tok.vocab_size, "texts": out})
        return 0
    for item in out:
        print(" | ".join(piece["text"] for piece in item["pieces"]))
        print(f"  {len(item['ids'])} tokens, {item['chars_per_token']} characters per token: {item['ids']}")
    return 0


def cmd_data(args, sink) -> int:
    from engine.data import formats
    if args.data_command == "builtin":
        return cmd_data_builtin(args)
    reports, failures = [], []
    for p in args.paths:
        try:
            reports.append(formats.validate_file(p, encoding=args.encoding))
        except UserError as e:
            failures.append(f"{e.message}" + (f" (hint: {e.hint})" if e.hint else ""))
    if args.json:
        print_json({"files": [_report_dict(r) for r in reports], "errors": failures})
    else:
        if reports:
            print(formats.summarize(reports))
        for f in failures:
            print(f"error: {f}", file=sys.stderr)
    return 2 if failures or any(r.bad_lines for r in reports) else 0


def cmd_data_builtin(args) -> int:
    """Generate the built-in dataset if needed; print its manifest with the folder (the studio's Data page)."""
    from engine.data import builtin
    from engine.workspace import resolve_workspace
    folder = builtin.ensure_builtin(resolve_workspace(args.workspace))
    manifest = json.loads((folder / builtin.MANIFEST_NAME).read_text(encoding="utf-8"))
    print(json.dumps({"folder": str(folder), **manifest}, ensure_ascii=False))
    return 0


def _report_dict(r) -> dict:
    return {"path": r.path, "kind": r.kind, "records": r.records, "bad_count": r.bad_count, "chars": r.chars,
            "est_tokens": r.est_tokens, "bad_lines": [str(b) for b in r.bad_lines[:100]]}


def cmd_doctor(args, sink) -> int:
    if args.calibrate:
        return cmd_calibrate(args)
    from engine.hardware import doctor_report
    report = doctor_report()
    if args.json:
        print(json.dumps(report, default=str))
        return 0
    print(f"minigpt engine {report['engine_version']} · python {report['python']} · torch {report['torch']}")
    print(f"platform: {report['platform']}")
    cpu = report["cpu"]
    print(f"cpu: {cpu['name']}, {cpu['cores']} cores, bf16 support: {cpu['bf16_kind'] or 'none'} "
          f"(auto precision on the CPU: {cpu['auto_precision']}: {cpu['auto_precision_why']})")
    print(f"memory: {report['memory']['total'] / 2**30:.1f} GiB ({report['memory']['available'] / 2**30:.1f} free)")
    for g in report["cuda"]["gpus"]:
        print(f"cuda:{g['index']}: {g['name']}, {g['memory'] / 2**30:.1f} GiB, sm {g['capability']}")
    if not report["cuda"]["gpus"]:
        print("cuda: not available")
    print(f"mps: {'available' if report['mps']['available'] else 'not available'}")
    print(f"default device: {report['default_device']}")
    opts = report["options"]
    sizes = opts.get("model_preset_params", {})
    presets = [f"{name} ({sizes[name]['params'] / 1e6:.1f}M"
               + (f", {sizes[name]['params_active'] / 1e6:.1f}M active)"
                  if sizes[name]["params_active"] < sizes[name]["params"] else ")") if name in sizes else name
               for name in opts["model_presets"]]
    print(f"stages: {', '.join(opts['stages'])}; presets: {', '.join(presets)}; "
          f"precisions: {', '.join(opts['precisions'])}")
    return 0


def cmd_calibrate(args) -> int:
    from engine.calibrate import calibrate
    from engine.workspace import resolve_workspace
    result = calibrate(args.calibrate, resolve_workspace(args.workspace), args.device, args.precision,
                       fresh=args.fresh)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['preset']} on {result['device']} ({result['precision']}): {result['tokens_per_s']:,.0f} "
              f"tokens/s, {result['flops_per_s'] / 1e9:,.1f} GFLOP/s" + (" (cached)" if result["cached"] else ""))
    return 0


def read_message(ask=input) -> str:
    """One user message from the terminal. A line ending in a backslash continues on the next (as in a shell), so a
    message can hold line breaks: the built-in tasks put the text to work on after a newline ("Reverse the string:" /
    "kulsh"), and the model was trained on them in that form."""
    lines, prompt = [], "you> "
    while True:
        line = ask(prompt)
        if not line.rstrip().endswith("\\"):
            lines.append(line)
            return "\n".join(lines).strip()
        lines.append(line.rstrip()[:-1])
        prompt = "...> "


def cmd_chat(args, sink) -> int:
    from engine.inference import TextStream, load_for_inference
    from engine.serve import chat_prompt_ids, sampling_from

    lm = load_for_inference(args.checkpoint, args.device, args.quantize)
    print(f"chatting with {lm.folder} ({lm.model.num_params():,} params, {lm.rt.describe()}); "
          "an empty line, /quit or Ctrl-D quits, /reset starts over, a line ending in \\ continues on the next",
          file=sys.stderr)
    history = [{"role": "system", "content": args.system}] if args.system else []
    params = {"temperature": args.temperature, "top_k": args.top_k, "top_p": args.top_p,
              "max_new_tokens": args.max_new_tokens}
    while True:
        try:
            line = read_message()
        except EOFError:
            break
        if not line or line in ("/quit", "/exit"):   # what other chat CLIs take; never sent to the model
            break
        if line == "/reset":
            history = history[:1] if args.system else []
            continue
        history.append({"role": "user", "content": line})
        print("model> ", end="", flush=True)
        stream = TextStream(lm.tok)

        def show(_row: int, tok_id: int, s: TextStream = stream) -> None:
            print(s.push(tok_id), end="", flush=True)
        out = lm.generator.generate([chat_prompt_ids(lm, history)], sampling_from(params), on_tokens=show)[0]
        print()
        history.append({"role": "assistant", "content": lm.tok.decode(out)})
    return 0


def cmd_serve(args, sink: EventSink) -> int:
    from engine.inference import load_for_inference
    if args.http:
        from engine.serve_http import parse_address, serve_http
        host, port = parse_address(args.http)
        lm = load_for_inference(args.checkpoint, args.device, args.quantize)
        return serve_http(lm, host, port, api_key=args.api_key, max_batch=args.max_batch)
    from engine.serve import serve_stdio
    commands = CommandQueue(
        on_bad_line=lambda m: sink.emit("error", kind="request", message=m, hint="", traceback=None))
    commands.read_stream(sys.stdin, stop_at_eof=True)
    lm = load_for_inference(args.checkpoint, args.device, args.quantize)
    return serve_stdio(lm, sink, commands, max_batch=args.max_batch)
