"""`minigpt serve CKPT --stdio`: the chat server the studio talks to, one JSON object per line.

{"cmd": "generate", "id", "messages", "params"} -> `token` events (id, text) -> `done` (id, stats);
{"cmd": "cancel", "id"} stops a reply early. The model is loaded once; replies are generated one at a time.
"""

from __future__ import annotations

import threading
import time

from engine.commands import CommandQueue
from engine.events import EventSink
from engine.generate import SamplingParams
from engine.inference import LoadedModel, TextStream
from engine.protocol import SAMPLING_DEFAULTS

PARAM_KEYS = ("max_new_tokens", "temperature", "top_k", "top_p", "min_p", "repetition_penalty", "seed")


def sampling_from(params: dict | None) -> SamplingParams:
    if params is not None and not isinstance(params, dict):
        raise ValueError("params must be an object of numbers")
    p = SamplingParams(**{k: getattr(SAMPLING_DEFAULTS, k) for k in PARAM_KEYS})
    for key in PARAM_KEYS:
        if params and params.get(key) is not None:
            setattr(p, key, type(getattr(p, key) if getattr(p, key) is not None else 0)(params[key]))
    return p


def chat_prompt_ids(lm: LoadedModel, messages: list[dict],
                    max_new_tokens: int = SAMPLING_DEFAULTS.max_new_tokens) -> list[int]:
    """The chat as prompt ids; a chat too long for the model loses its oldest turns (the system turn stays),
    so that min(max_new_tokens, half the context) is left to answer in."""
    budget = lm.model.cfg.max_seq_len - min(max_new_tokens, lm.model.cfg.max_seq_len // 2)
    system = [m for m in messages[:1] if m.get("role") == "system"]
    turns = messages[len(system):]
    while True:
        ids, _ = lm.tok.encode_chat(system + turns, add_generation_prompt=True)
        if len(ids) <= budget or len(turns) <= 1:
            return ids[-budget:]
        turns = turns[1:]


def generate_reply(lm: LoadedModel, sink: EventSink, req_id, messages: list[dict], params: dict | None,
                   cancelled: threading.Event) -> None:
    sampling = sampling_from(params)
    prompt = chat_prompt_ids(lm, messages, sampling.max_new_tokens)
    stream = TextStream(lm.tok)
    t0 = time.perf_counter()
    first: list[float] = []

    def on_token(_row: int, tok_id: int):
        if not first:
            first.append(time.perf_counter() - t0)
        piece = stream.push(tok_id)
        if piece:
            sink.emit("token", id=req_id, text=piece)
        return not cancelled.is_set()

    out = lm.generator.generate([prompt], sampling, on_tokens=on_token)[0]
    elapsed = time.perf_counter() - t0
    n = len(out)
    decode_time = elapsed - (first[0] if first else 0.0)
    sink.emit("done", id=req_id, status="cancelled" if cancelled.is_set() else "completed", stats={
        "prompt_tokens": len(prompt), "completion_tokens": n,
        "tokens_per_s": round((n - 1) / decode_time, 1) if n > 1 and decode_time > 0 else None,
        "time_to_first_token": round(first[0], 4) if first else None})


def serve_stdio(lm: LoadedModel, sink: EventSink, commands: CommandQueue) -> int:
    """Serve until stdin closes or a stop command arrives. A cancel for the running reply is seen mid-reply."""
    import queue as _queue
    sink.emit("ready", checkpoint=str(lm.folder), device=lm.rt.describe(), step=lm.meta.get("step"),
              stage=lm.meta.get("stage"), params=lm.model.num_params(), max_seq_len=lm.model.cfg.max_seq_len)
    pending: _queue.Queue = _queue.Queue()
    current: dict = {"id": None, "cancel": threading.Event()}

    def route():  # runs beside generation so cancel arrives while a reply streams
        while True:
            cmd = commands.wait(timeout=0.5)
            if cmd is None:
                continue
            if cmd["cmd"] == "cancel" and cmd.get("id") == current["id"]:
                current["cancel"].set()
            elif cmd["cmd"] in ("generate", "stop"):
                pending.put(cmd)
    threading.Thread(target=route, daemon=True).start()
    while True:
        cmd = pending.get()
        if cmd["cmd"] == "stop":
            return 0
        messages = cmd.get("messages")
        if not isinstance(messages, list) or not messages:
            sink.emit("error", kind="request", id=cmd.get("id"), message="generate needs a non-empty 'messages' list",
                      hint='send {"cmd": "generate", "id": 1, "messages": [{"role": "user", "content": "hi"}]}',
                      traceback=None)
            continue
        current["id"], current["cancel"] = cmd.get("id"), threading.Event()
        try:
            generate_reply(lm, sink, cmd.get("id"), messages, cmd.get("params"), current["cancel"])
        except Exception as e:  # noqa: BLE001 - one bad request must never end the server
            sink.emit("error", kind="request", id=cmd.get("id"), message=f"bad generate request: {e}",
                      hint="messages are {role, content} objects; params are numbers", traceback=None)
