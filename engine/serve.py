"""`minigpt serve CKPT --stdio`: the chat server the studio talks to, one JSON object per line.

{"cmd": "generate", "id", "messages", "params"} -> `token` events (id, text) -> `done` (id, status, stats);
{"cmd": "cancel", "id"} ends that reply (running or waiting) at its next token; {"cmd": "inspect", "id", "reply_id"
(or "messages" ending in the assistant's reply), "layer", "head"} answers one `inspect` event with the reply's token
probabilities and attention (engine/introspect.py); `stop` or the end of stdin cancels every reply and exits.
Replies are decoded together by the batch scheduler. Owns validating stdio requests: every refusal is an `error`
event naming the field, never a Python message.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict

from engine.batching import Busy, Job, Scheduler
from engine.commands import CommandQueue
from engine.events import EventSink
from engine.generate import SamplingError, SamplingParams
from engine.inference import LoadedModel, TextStream
from engine.introspect import inspect_reply
from engine.protocol import SAMPLING_DEFAULTS

PARAM_KEYS = {"max_new_tokens": int, "temperature": float, "top_k": int, "top_p": float, "min_p": float,
              "repetition_penalty": float, "seed": int}
ROLES = ("system", "user", "assistant")
REMEMBERED_REPLIES = 64  # finished replies whose exact token ids `inspect` can still look at
EXAMPLE = ('{"cmd": "generate", "id": 1, "messages": [{"role": "user", "content": "hi"}], '
           '"params": {"temperature": 0.7}}')


class BadRequest(ValueError):
    """A generate request we refuse: the message names the field, the hint shows what would work."""

    def __init__(self, message: str, hint: str = f"send {EXAMPLE}"):
        super().__init__(message)
        self.message, self.hint = message, hint


def _kind(value) -> str:
    if isinstance(value, bool):
        return "true/false"
    return {dict: "an object", list: "a list", str: "text", int: "a number", float: "a number",
            type(None): "null"}.get(type(value), type(value).__name__)


def sampling_from(params: dict | None) -> SamplingParams:
    """The studio's sampling settings; each bad one is refused by name."""
    if params is not None and not isinstance(params, dict):
        raise BadRequest(f"'params' must be an object of sampling settings, not {_kind(params)}")
    p = SamplingParams(**{k: getattr(SAMPLING_DEFAULTS, k) for k in PARAM_KEYS})
    for key, value in (params or {}).items():
        kind = PARAM_KEYS.get(key)
        if kind is None:
            raise BadRequest(f"params.{key} is not a sampling setting", f"known settings: {', '.join(PARAM_KEYS)}")
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise BadRequest(f"params.{key} must be a number, not {_kind(value)}")
        if kind is int and value != int(value):
            raise BadRequest(f"params.{key} must be a whole number, not {value}")
        setattr(p, key, kind(value))
    try:
        return p.validate()
    except SamplingError as e:
        raise BadRequest(f"params.{e.message}") from None


def check_messages(messages) -> list[dict]:
    """The chat as {role, content} dicts, or a BadRequest naming the first bad field."""
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list of {role, content} objects")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise BadRequest(f"messages[{i}] must be an object with 'role' and 'content', not {_kind(m)}")
        if m.get("role") not in ROLES:
            raise BadRequest(f"messages[{i}].role is {m.get('role')!r}; expected one of {', '.join(ROLES)}")
        content = m.get("content")
        if not isinstance(content, str):
            raise BadRequest(f"messages[{i}].content must be text, not {_kind(content)}")
        try:
            content.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest(f"messages[{i}].content holds a lone surrogate that is not text") from None
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def fit_chat(lm: LoadedModel, messages: list[dict],
             max_new_tokens: int = SAMPLING_DEFAULTS.max_new_tokens) -> tuple[list[int], int]:
    """The chat as prompt ids, and how many of its tokens were dropped to fit. A chat too long for the model loses
    its oldest turns (the system turn stays), then the oldest tokens, so that min(max_new_tokens, half the context)
    is left to answer in."""
    budget = lm.model.cfg.max_seq_len - min(max_new_tokens, lm.model.cfg.max_seq_len // 2)
    system = [m for m in messages[:1] if m.get("role") == "system"]
    turns = messages[len(system):]
    full = None
    while True:
        ids, _ = lm.tok.encode_chat(system + turns, add_generation_prompt=True)
        full = len(ids) if full is None else full
        if len(ids) <= budget or len(turns) <= 1:
            kept = ids[-budget:]
            return kept, full - len(kept)
        turns = turns[1:]


def chat_prompt_ids(lm: LoadedModel, messages: list[dict],
                    max_new_tokens: int = SAMPLING_DEFAULTS.max_new_tokens) -> list[int]:
    return fit_chat(lm, messages, max_new_tokens)[0]


def start_reply(lm: LoadedModel, sink: EventSink, sched: Scheduler, req_id, messages, params,
                history: OrderedDict | None = None) -> Job:
    """Validate a generate command and queue its reply; token and done events come from the scheduler thread.
    A finished reply's prompt and token ids are kept in `history` (the newest REMEMBERED_REPLIES) for `inspect`."""
    sampling = sampling_from(params)
    prompt, dropped = fit_chat(lm, check_messages(messages), sampling.max_new_tokens)
    if dropped:
        sink.emit("log", level="warning", id=req_id,
                  message=f"the chat is {len(prompt) + dropped} tokens, more than this model's context of "
                          f"{lm.model.cfg.max_seq_len} leaves room for with a reply: the oldest {dropped} tokens "
                          f"were dropped")
    stream = TextStream(lm.tok)

    def on_token(tok_id: int) -> None:
        piece = stream.push(tok_id)
        if piece:
            sink.emit("token", id=req_id, text=piece)

    def on_done(job: Job) -> None:
        if job.reason == "error":
            sink.emit("error", kind="request", id=req_id, message=f"generation failed: {type(job.error).__name__}: "
                      f"{job.error}", hint="the server keeps running; try again", traceback=None)
            return
        if history is not None:
            history[req_id] = (prompt, list(job.out))
            while len(history) > REMEMBERED_REPLIES:
                history.popitem(last=False)
        end = time.perf_counter()
        n, first = len(job.out), job.first_token_at
        decode_time = end - first if first is not None else 0.0
        sink.emit("done", id=req_id, status="cancelled" if job.reason == "cancelled" else "completed", stats={
            "prompt_tokens": len(prompt), "completion_tokens": n, "dropped_tokens": dropped,
            "tokens_per_s": round((n - 1) / decode_time, 1) if n > 1 and decode_time > 0 else None,
            "time_to_first_token": round(first - job.submitted, 4) if first is not None else None})
    return sched.submit(prompt, sampling, on_token=on_token, on_done=on_done)


def inspect_request(lm: LoadedModel, cmd: dict, history: OrderedDict) -> dict:
    """The `inspect` event's data for a finished reply: by its request id (exact token ids), or by `messages` whose
    last turn is the assistant's reply (re-encoded, e.g. for a chat reopened from disk)."""
    reply_id, n_layer, n_head = cmd.get("reply_id"), lm.model.cfg.n_layer, lm.model.cfg.n_head
    if reply_id is not None:
        if isinstance(reply_id, bool) or not isinstance(reply_id, (str, int)) or reply_id not in history:
            raise BadRequest(f"inspect: reply_id {reply_id!r} is not one of the last {REMEMBERED_REPLIES} finished "
                             "replies", "send the chat as 'messages' instead")
        prompt, reply = history[reply_id]
    else:
        messages = check_messages(cmd.get("messages"))
        if messages[-1]["role"] != "assistant":
            raise BadRequest("inspect: the last message must be the assistant's reply to look at")
        prompt = fit_chat(lm, messages[:-1], max_new_tokens=0)[0]
        reply = lm.tok.encode(messages[-1]["content"])
    layer, head = cmd.get("layer", n_layer - 1), cmd.get("head")
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < n_layer:
        raise BadRequest(f"inspect: 'layer' must be a whole number from 0 to {n_layer - 1}")
    if head is not None and (isinstance(head, bool) or not isinstance(head, int) or not 0 <= head < n_head):
        raise BadRequest(f"inspect: 'head' must be a whole number from 0 to {n_head - 1}, or null for the mean")
    if not reply:
        raise BadRequest("inspect: the reply is empty; there is nothing to look at")
    with lm.rt.autocast():
        found = inspect_reply(lm.model, lm.tok, prompt, reply, layer, head)
    return {**found.to_event(), "n_layer": n_layer, "n_head": n_head}


def _id_problem(req_id, running: dict) -> str | None:
    if req_id is None:
        return "is missing"
    if isinstance(req_id, bool) or not isinstance(req_id, (str, int)):
        return f"must be text or a number, not {_kind(req_id)}"
    return "is already in use by a running reply" if req_id in running else None


def serve_stdio(lm: LoadedModel, sink: EventSink, commands: CommandQueue, max_batch: int = 8) -> int:
    """Serve until a stop command or the end of stdin; either cancels every reply at its next token."""
    sink.emit("ready", checkpoint=str(lm.folder), device=lm.rt.describe(), step=lm.meta.get("step"),
              stage=lm.meta.get("stage"), params=lm.model.num_params(), max_seq_len=lm.model.cfg.max_seq_len)
    sched = Scheduler(lm.generator, max_batch=max_batch)
    jobs: dict = {}
    history: OrderedDict = OrderedDict()
    try:
        while True:
            cmd = commands.wait(timeout=0.5)
            if cmd is None:
                continue
            name, req_id = cmd["cmd"], cmd.get("id")
            jobs = {k: j for k, j in jobs.items() if not j.done.is_set()}
            if name == "stop":
                return 0
            if name == "cancel":
                if isinstance(req_id, (str, int)) and req_id in jobs:
                    jobs[req_id].cancel()
                continue  # a reply that already finished needs no cancelling
            if name == "inspect":
                try:
                    sink.emit("inspect", id=req_id, **inspect_request(lm, cmd, history))
                except BadRequest as e:
                    sink.emit("error", kind="request", id=req_id, message=e.message, hint=e.hint, traceback=None)
                continue
            if name != "generate":
                sink.emit("error", kind="request", id=req_id, message=f"'{name}' is not supported by the chat "
                          "server", hint="the chat server understands generate, inspect, cancel and stop",
                          traceback=None)
                continue
            problem = _id_problem(req_id, jobs)
            if problem:
                sink.emit("error", kind="request", id=None, message=f"generate: 'id' {problem}",
                          hint=f"send {EXAMPLE}", traceback=None)
                continue
            try:
                jobs[req_id] = start_reply(lm, sink, sched, req_id, cmd.get("messages"), cmd.get("params"), history)
            except BadRequest as e:
                sink.emit("error", kind="request", id=req_id, message=f"bad generate request: {e.message}",
                          hint=e.hint, traceback=None)
            except Busy as e:
                sink.emit("error", kind="request", id=req_id, message=f"too many replies waiting ({e})",
                          hint="wait for a reply to finish, or cancel one", traceback=None)
    finally:
        sched.close()  # cancels what runs or waits: each gets its done event
