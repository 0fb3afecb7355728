"""Subcommands for using a trained model: generate, eval, export (and serve --http). Parsers and handlers.

Kept apart from engine/cli.py so the training CLI and the inference CLI can grow independently. Handlers turn
arguments into calls on engine.generate / engine.evaluate / engine.export and print results; no model code here.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

from engine.errors import UserError
from engine.protocol import SAMPLING_DEFAULTS as DEFAULTS

TEMPLATES = ("auto", "chat", "raw")
# Beam search walks its 2 x num_beams best candidates in Python at every token, so time grows with the beam count
# even where memory would allow more; past a few dozen beams the best hypothesis no longer changes in practice.
MAX_BEAMS = 64


def add_inference_parsers(sub) -> None:
    """Register the inference subcommands on the `minigpt` subparsers object."""
    g = sub.add_parser("generate", help="generate from a checkpoint: one prompt, or a JSONL file of prompts")
    g.add_argument("checkpoint", help="checkpoint step folder or run folder")
    g.add_argument("--mode", choices=["single", "batch"], default="single")
    g.add_argument("--prompt", help="single mode: the prompt text")
    g.add_argument("--input", help='batch mode: JSONL with {"prompt": ...} or {"messages": [...]} per line '
                   '(optional "id" and "params" overriding the sampling flags)')
    g.add_argument("--output", help="batch mode: JSONL results file to create (never overwritten)")
    g.add_argument("--template", choices=TEMPLATES, default="auto",
                   help="chat: wrap prompts in the chat template; raw: continue the text; auto: chat unless the "
                        "checkpoint is a pretrain one")
    g.add_argument("--system", default="", help="system prompt (chat template only)")
    add_sampling_flags(g)
    g.add_argument("--batch-size", type=int, default=8, help="batch mode: prompts decoded together")
    g.add_argument("--json", action="store_true", help="single mode: print one JSON result instead of streaming")
    g.add_argument("--device", default="auto")
    add_quantize_flag(g)

    e = sub.add_parser("eval", help="measure a checkpoint: perplexity, task accuracy, BLEU, ROUGE")
    e.add_argument("checkpoint")
    e.add_argument("--data", default="builtin", help="'builtin' or a .jsonl/.txt file (text, SFT, or prompts with "
                   'an "answer")')
    e.add_argument("--metrics", help="comma list of ppl,accuracy,bleu,rouge (default: every one the data allows); "
                   "or reward alone, for a reward-model checkpoint (pairwise accuracy on preference pairs)")
    e.add_argument("--out", help="write the JSON report here (a new file)")
    e.add_argument("--limit", type=int, default=200, help="records read for each metric (0 = all)")
    e.add_argument("--template", choices=TEMPLATES, default="auto",
                   help="how prompts are given to the model; auto = chat, as the training loop's task evals do")
    e.add_argument("--max-new-tokens", type=int, default=64, help="generation length for BLEU/ROUGE references")
    e.add_argument("--batch-size", type=int, default=16)
    e.add_argument("--reward", help="reward-model checkpoint to score generations with (not available yet)")
    e.add_argument("--device", default="auto")
    add_quantize_flag(e)

    x = sub.add_parser("export", help="export a checkpoint for other tools (Hugging Face Llama format)")
    x.add_argument("checkpoint")
    x.add_argument("--format", choices=["hf"], default="hf", help="hf: a transformers LlamaForCausalLM folder")
    x.add_argument("--out", required=True, help="folder to create (must be new or empty)")
    x.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")


def add_quantize_flag(p) -> None:
    """--quantize for every command that loads a model to generate (chat, generate, serve, eval)."""
    p.add_argument("--quantize", choices=["none", "int8"], default="none",
                   help="int8: int8 Linear weights on the CPU, ~4x fewer bytes read per token (faster decoding, "
                        "slightly different logits)")


def add_sampling_flags(p) -> None:
    p.add_argument("--max-new-tokens", type=int, default=DEFAULTS.max_new_tokens)
    p.add_argument("--temperature", type=float,
                   help=f"0 = greedy (default {DEFAULTS.temperature}; 0 with --num-beams > 1)")
    p.add_argument("--top-k", type=int, default=DEFAULTS.top_k, help="0 = off")
    p.add_argument("--top-p", type=float, default=DEFAULTS.top_p, help="1 = off")
    p.add_argument("--min-p", type=float, default=DEFAULTS.min_p, help="0 = off")
    p.add_argument("--repetition-penalty", type=float, default=DEFAULTS.repetition_penalty, help="1 = off")
    p.add_argument("--num-beams", type=int, default=1, help="> 1: beam search (deterministic)")
    p.add_argument("--length-penalty", type=float, default=1.0, help="beam scores / length ** this")
    p.add_argument("--seed", type=int, help="seed for sampling (same seed, same prompts: same output)")
    p.add_argument("--stop", action="append", default=[], metavar="TEXT", help="stop string (repeatable)")


def sampling_params(args, overrides: dict | None = None, where: str = ""):
    from engine.generate import SamplingParams
    beams = (overrides or {}).get("num_beams", args.num_beams)
    temperature = args.temperature if args.temperature is not None else (0.0 if beams > 1 else DEFAULTS.temperature)
    p = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=temperature, top_k=args.top_k,
                       top_p=args.top_p, min_p=args.min_p, repetition_penalty=args.repetition_penalty, seed=args.seed,
                       stop_strings=list(args.stop), num_beams=args.num_beams, length_penalty=args.length_penalty)
    for n in (p.num_beams, (overrides or {}).get("num_beams")):
        if isinstance(n, int) and n > MAX_BEAMS:
            raise UserError(f"{where}num_beams={n} is more than this engine searches (at most {MAX_BEAMS})",
                            "use --num-beams 4 to 8, the usual range", kind="input")
    known = set(p.to_dict()) - {"stop_ids"}
    for key, value in (overrides or {}).items():
        if key not in known:
            raise UserError(f"{where}unknown sampling setting {key!r}", f"use {', '.join(sorted(known))}",
                            kind="input")
        setattr(p, key, value)
    try:
        return p.validate()
    except UserError as e:
        raise UserError(where + e.message, e.hint, kind="input") from None


def load(args):
    """The checkpoint, ready to generate. On the CPU decoding runs in fp32: bf16 autocast there re-casts every
    weight at every op, which measured 2-3x slower per token than fp32 for the tiny and small presets."""
    from engine.inference import load_for_inference
    lm = load_for_inference(args.checkpoint, args.device, getattr(args, "quantize", "none"))
    if lm.rt.device.type == "cpu":
        lm.generator.autocast = contextlib.nullcontext
    return lm


def use_chat(template: str, lm) -> bool:
    return template == "chat" or (template == "auto" and lm.meta.get("stage") != "pretrain")


def prompt_ids(lm, prompt: str | list[dict], chat: bool, system: str = "") -> list[int]:
    if isinstance(prompt, str):
        if not chat:
            return lm.tok.encode(prompt)
        prompt = [{"role": "user", "content": prompt}]
    if not chat:  # raw continuation of a conversation: its template, without the generation prompt
        return lm.tok.encode_chat(prompt)[0]
    messages = ([{"role": "system", "content": system}] if system and prompt[0]["role"] != "system" else []) + prompt
    return lm.tok.encode_chat(messages, add_generation_prompt=True)[0]


def check_length(lm, ids: list[int], where: str) -> None:
    if len(ids) >= lm.model.cfg.max_seq_len:
        raise UserError(f"{where}the prompt is {len(ids)} tokens; the model's context is {lm.model.cfg.max_seq_len}",
                        "shorten the prompt", kind="input")


def check_decode_memory(lm, rows: int, length: int, flag: str, where: str = "", prefill_rows: int | None = None):
    """Refuse, before any cache is allocated, a decode whose rough size exceeds the device's free memory:
    `rows` sequences (prompts in a batch, or beams) of up to `length` tokens. `flag` is the knob to lower."""
    from engine.estimate import GIB, generation_bytes
    from engine.hardware import free_memory
    length = min(length, lm.model.cfg.max_seq_len)
    need = generation_bytes(lm.model.cfg, rows, length, prefill_rows)
    free, device = free_memory(lm.rt.device)
    if need > free:
        raise UserError(f"{where}needs ~{need / GIB:.1f} GiB, {device} has {free / GIB:.1f} GiB free; lower {flag}",
                        f"{rows:,} rows of up to {length} tokens each hold a KV cache of the model's "
                        f"{lm.model.cfg.n_layer} layers", kind="memory")


def refuse_existing(path: str | None, flag: str) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    if p.exists():
        raise UserError(f"{p} already exists", f"choose a new {flag} file; results are never overwritten",
                        kind="output")
    if not p.parent.exists():
        raise UserError(f"{p.parent}: no such folder", f"create it or choose another {flag}", kind="output")
    return p


# ---------------------------------------------------------------- generate
def cmd_generate(args, sink=None) -> int:
    from engine.generate import trim_at_stop
    from engine.stop_trim import StopTrimmer
    if args.mode == "batch":
        return generate_batch(args)
    if args.prompt is None or args.input or args.output:
        raise UserError("--mode single takes --prompt TEXT (and no --input/--output)",
                        "use --mode batch --input prompts.jsonl --output results.jsonl for many prompts",
                        kind="input")
    params = sampling_params(args)
    lm = load(args)
    ids = prompt_ids(lm, args.prompt, use_chat(args.template, lm), args.system)
    check_length(lm, ids, "")
    check_decode_memory(lm, params.num_beams, len(ids) + params.max_new_tokens, "--num-beams", prefill_rows=1)
    pieces = StopTrimmer(lm.tok, params.stop_strings)
    t0 = time.perf_counter()

    def show(_row, tok_id):
        piece = pieces.push(tok_id)
        if piece and not args.json:
            print(piece, end="", flush=True)
        return not pieces.stopped
    c = lm.generator.complete([ids], params, on_tokens=show)[0]
    elapsed = time.perf_counter() - t0
    if not args.json:
        print(pieces.flush(), end="")
    text, stopped = trim_at_stop(lm.tok.decode(c.ids, skip_special=True), params.stop_strings)
    reason = "stop" if stopped or pieces.stopped else c.finish_reason
    result = {"prompt": args.prompt, "completion": text, "finish_reason": reason,
              "prompt_tokens": len(ids), "completion_tokens": len(c.ids), "params": params.to_dict()}
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print()
        print(f"[{len(c.ids)} tokens in {elapsed:.2f}s, {result['finish_reason']}]", file=sys.stderr)
    return 0


def read_batch_input(path: str) -> list[dict]:
    file = Path(path)
    if not file.is_file():
        raise UserError(f"{file}: no such file", "--input takes a JSONL file of prompts", kind="input")
    items = []
    with file.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{file}:{n}: "
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"{where}malformed JSON ({e.msg})", "one JSON object per line", kind="input") from None
            prompt = obj.get("prompt", obj.get("messages", obj.get("conversations"))) if isinstance(obj, dict) else None
            ok = isinstance(prompt, str) or (isinstance(prompt, list) and prompt and all(
                isinstance(m, dict) and isinstance(m.get("content"), str) and m.get("role") in
                ("system", "user", "assistant") for m in prompt))
            if not ok or not isinstance(obj.get("params", {}), dict):
                raise UserError(f"{where}expected {{\"prompt\": TEXT}} or {{\"messages\": [{{role, content}}, ...]}}"
                                ' (and optionally "params": {...})', kind="input")
            items.append({"line": n, "where": where, "id": obj.get("id"), "prompt": prompt,
                          "params": obj.get("params", {})})
    if not items:
        raise UserError(f"{file}: no prompts", "one JSON object per line", kind="input")
    return items


def generate_batch(args) -> int:
    from engine.generate import trim_at_stop
    if not args.input or not args.output or args.prompt:
        raise UserError("--mode batch needs --input FILE and --output FILE (and no --prompt)", kind="input")
    if args.batch_size < 1:
        raise UserError("--batch-size must be >= 1", kind="input")
    out = refuse_existing(args.output, "--output")
    items = read_batch_input(args.input)
    for it in items:
        it["sampling"] = sampling_params(args, it["params"], it["where"])
    lm = load(args)
    chat = use_chat(args.template, lm)
    for it in items:
        it["ids"] = prompt_ids(lm, it["prompt"], chat, args.system)
        check_length(lm, it["ids"], it["where"])
    groups: dict[str, list[dict]] = {}
    for it in items:  # prompts with the same settings decode together, shortest first
        groups.setdefault(json.dumps(it["sampling"].to_dict(), sort_keys=True), []).append(it)
    t0, done = time.perf_counter(), 0
    for group in groups.values():
        group.sort(key=lambda it: len(it["ids"]))
        sp = group[0]["sampling"]  # beam search decodes one prompt at a time with num_beams rows
        if sp.num_beams > 1:
            from_line = sp.num_beams != args.num_beams
            check_decode_memory(lm, sp.num_beams, len(group[-1]["ids"]) + sp.max_new_tokens,
                                "params.num_beams" if from_line else "--num-beams",
                                group[0]["where"] if from_line else "", prefill_rows=1)
        else:
            check_decode_memory(lm, min(len(group), args.batch_size), len(group[-1]["ids"]) + sp.max_new_tokens,
                                "--batch-size")
        for a in range(0, len(group), args.batch_size):
            chunk = group[a:a + args.batch_size]
            for it, c in zip(chunk, lm.generator.complete([it["ids"] for it in chunk], chunk[0]["sampling"]),
                             strict=True):
                text, stopped = trim_at_stop(lm.tok.decode(c.ids, skip_special=True), it["sampling"].stop_strings)
                it["result"] = {"index": it["line"], "id": it["id"], "prompt": it["prompt"], "completion": text,
                                "finish_reason": "stop" if stopped else c.finish_reason,
                                "prompt_tokens": len(it["ids"]), "completion_tokens": len(c.ids),
                                "params": it["sampling"].to_dict()}
            done += len(chunk)
            print(f"{done}/{len(items)} prompts", file=sys.stderr, flush=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp.write_text("".join(json.dumps(it["result"], ensure_ascii=False) + "\n" for it in items), encoding="utf-8")
    refuse_existing(args.output, "--output")  # nobody wrote it while we generated
    tmp.replace(out)
    print(f"wrote {len(items)} results to {out} in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- eval and export
def default_metrics(data: str) -> list[str]:
    if data == "builtin":
        return ["ppl", "accuracy", "bleu", "rouge"]
    from engine.data import formats
    kind = formats.detect_format(data)
    return {"pretrain": ["ppl"], "sft": ["ppl", "bleu", "rouge"], "rl_prompt": ["accuracy", "bleu", "rouge"]}.get(
        kind, [])


def cmd_eval(args, sink=None) -> int:
    from engine.evaluate import evaluate_checkpoint
    from engine.workspace import resolve_workspace
    out = refuse_existing(args.out, "--out")
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else default_metrics(args.data)
    if "reward" in metrics:  # a reward-model checkpoint scored on held-out preference pairs
        return eval_reward(args, metrics, out)
    unknown = [m for m in metrics if m not in ("ppl", "accuracy", "bleu", "rouge")]
    if unknown:  # before the model loads
        raise UserError(f"unknown metric {', '.join(unknown)}", "choose from ppl,accuracy,bleu,rouge,reward",
                        kind="input")
    if args.reward:
        metrics.append("reward")
    if not metrics:
        raise UserError(f"{args.data}: nothing to measure on this kind of data", "pass --metrics", kind="input")
    lm = load(args)
    workspace = resolve_workspace(args.workspace) if args.data == "builtin" else None
    t0 = time.perf_counter()
    report = evaluate_checkpoint(lm, args.data, metrics, workspace, limit=args.limit or None,
                                 chat=args.template != "raw", batch_size=args.batch_size,
                                 max_new_tokens=args.max_new_tokens)
    report["seconds"] = round(time.perf_counter() - t0, 2)
    print_table(report)
    if out is not None:
        out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"report written to {out}", file=sys.stderr)
    return 0


def eval_reward(args, metrics: list[str], out: Path | None) -> int:
    from engine.evaluate import reward_report
    from engine.workspace import resolve_workspace
    if metrics != ["reward"]:
        raise UserError("--metrics reward scores a reward-model checkpoint and goes alone",
                        "run `minigpt eval CKPT --metrics reward` apart from ppl/accuracy/bleu/rouge", kind="input")
    workspace = resolve_workspace(args.workspace) if args.data == "builtin" else None
    t0 = time.perf_counter()
    report = reward_report(args.checkpoint, args.data, workspace, args.limit or None, args.batch_size, args.device)
    report["seconds"] = round(time.perf_counter() - t0, 2)
    print_table(report)
    if out is not None:
        out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"report written to {out}", file=sys.stderr)
    return 0


def print_table(report: dict) -> None:
    rows = [(k, f"{v:.4f}" if isinstance(v, float) else str(v)) for k, v in report["metrics"].items()
            if not k.endswith("_signature")]
    width = max((len(k) for k, _ in rows), default=6)
    print(f"{report['checkpoint']} (step {report['step']}, {report['stage']}) on {report['data']}")
    for name, source in report["sources"].items():
        print(f"  {name}: {source['file']} ({source['kind']})")
    print(f"{'metric':<{width}}  value")
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


def cmd_export(args, sink=None) -> int:
    from engine.export import export_hf
    out = export_hf(args.checkpoint, args.out, args.dtype)
    print(f"exported to {out} (Hugging Face LlamaForCausalLM); load it with "
          f"AutoModelForCausalLM.from_pretrained({str(out)!r})")
    return 0


INFERENCE_HANDLERS: dict = {"generate": cmd_generate, "eval": cmd_eval, "export": cmd_export}
