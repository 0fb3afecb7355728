"""The OpenAI chat-completions request and its errors: a pydantic schema for the body, the checks it cannot express
(supported features, the model name, the context length). The streamed-text trimmer for stop strings lives in
engine/stop_trim.py (the CLI's `generate` uses it too, without the server's libraries).

Knows nothing about sockets or the batch scheduler; engine/serve_http.py wires it to FastAPI.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, ValidationError

from engine.generate import SamplingParams
from engine.tokenizer import Tokenizer

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


class ApiError(Exception):
    """An error answered in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def _utf8(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("contains a lone surrogate (\\ud800-\\udfff) that is not text") from None
    return text


Text = Annotated[str, AfterValidator(_utf8)]
Real = Annotated[float, Field(allow_inf_nan=False)]


class TextPart(BaseModel):
    model_config = ConfigDict(strict=True)

    type: Literal["text"]
    text: Text


class Message(BaseModel):
    model_config = ConfigDict(strict=True)

    role: Literal["system", "developer", "user", "assistant"]
    content: Text | list[TextPart]
    name: Text | None = None


class ChatBody(BaseModel):
    """What we read from a chat-completions body. Unknown keys are allowed (clients send many we do not need);
    the features we cannot honour are refused by `unsupported` rather than ignored."""

    model_config = ConfigDict(extra="allow", strict=True)   # strict: "stream": "false" is not a boolean

    model: Text | None = None
    messages: list[Message] = Field(min_length=1)
    stream: StrictBool = False
    stream_options: dict[str, Any] | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: Real = Field(1.0, ge=0, le=2)
    top_p: Real = Field(1.0, ge=0, le=1)
    top_k: int = Field(0, ge=0)
    min_p: Real = Field(0.0, ge=0, le=1)
    repetition_penalty: Real = Field(1.0, ge=0.01, le=10)
    presence_penalty: Real = 0.0
    frequency_penalty: Real = 0.0
    seed: int | None = None
    n: int = 1
    stop: Text | list[Text] | None = None
    logprobs: StrictBool | None = None
    top_logprobs: int | None = None
    tools: list | None = None
    tool_choice: Any = None
    functions: list | None = None
    response_format: dict[str, Any] | None = None


def unsupported(body: ChatBody) -> ApiError | None:
    """The first requested feature this server cannot honour, as a 400 naming it."""
    checks = [
        (body.logprobs or body.top_logprobs, "logprobs", "log-probabilities are not returned by this server"),
        (body.tools or body.functions or body.tool_choice not in (None, "none"), "tools",
         "tool and function calling are not supported by this server"),
        (body.response_format and body.response_format.get("type") != "text", "response_format",
         "only response_format {\"type\": \"text\"} is supported (no JSON mode or schemas)"),
        (body.n != 1, "n", "only n=1 is supported"),
        (body.presence_penalty or body.frequency_penalty, "presence_penalty",
         "presence and frequency penalties are not supported; use repetition_penalty"),
    ]
    for bad, param, why in checks:
        if bad:
            return ApiError(400, f"'{param}': {why}", param=param, code="unsupported_parameter")
    return None


def validation_error(e: ValidationError | list) -> ApiError:
    """A pydantic error list as one 400 naming the field. The rejected value is never echoed back: it may be a NaN
    or a lone surrogate that would not survive being written as JSON."""
    errors = e.errors() if isinstance(e, ValidationError) else e
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    # Union members show up in loc as tags such as "list[TextPart]": keep field names and indices only.
    loc = [str(p) for p in first.get("loc", ()) if p != "body" and re.fullmatch(r"\w+", str(p))]
    field = ".".join(p if not p.isdigit() else f"[{p}]" for p in loc).replace(".[", "[")
    if first.get("type") == "json_invalid":
        return ApiError(400, f"the body is not valid JSON ({first.get('ctx', {}).get('error', first['msg'])})")
    if not field:  # the body as a whole: null, a list, or not sent as JSON at all
        return ApiError(400, "the body must be a JSON object with 'messages' (sent as Content-Type: application/json)")
    msg = first.get("msg", "invalid value")
    more = f" (and {len(errors) - 1} more problem{'s' * (len(errors) > 2)})" if len(errors) > 1 else ""
    return ApiError(400, f"'{field or 'body'}': {msg}{more}", param=loc[0] if loc else None)


@dataclass
class ChatRequest:
    id: str
    prompt: list[int]
    params: SamplingParams
    stream: bool
    include_usage: bool


def build_request(body: ChatBody, tok: Tokenizer, max_seq_len: int, model_id: str) -> ChatRequest:
    """Turn a validated body into prompt ids and sampling settings; anything we cannot honour is an ApiError."""
    if body.model is not None and body.model not in (model_id, "minigpt"):
        raise ApiError(404, f"the model '{body.model}' does not exist; this server serves '{model_id}' "
                       "(see GET /v1/models)", param="model", code="model_not_found")
    refusal = unsupported(body)
    if refusal is not None:
        raise refusal
    turns = []
    for m in body.messages:
        content = m.content if isinstance(m.content, str) else "".join(p.text for p in m.content)
        turns.append({"role": ROLES[m.role], "content": content})
    stop = [body.stop] if isinstance(body.stop, str) else (body.stop or [])
    if len(stop) > 4 or not all(stop):
        raise ApiError(400, "'stop' must be a string or a list of up to 4 non-empty strings", param="stop")
    prompt, _ = tok.encode_chat(turns, add_generation_prompt=True)
    room = max_seq_len - len(prompt)
    if room < 1:
        raise ApiError(400, f"the messages take {len(prompt)} tokens; this model's context is {max_seq_len}",
                       param="messages", code="context_length_exceeded")
    limit = body.max_completion_tokens or body.max_tokens or room
    params = SamplingParams(
        max_new_tokens=min(limit, room), temperature=body.temperature, top_p=body.top_p, top_k=body.top_k,
        min_p=body.min_p, seed=body.seed, repetition_penalty=body.repetition_penalty, stop_strings=stop,
        stop_ids=[tok.im_start_id])  # a reply that opens a new turn is over
    if params.top_p == 0:
        params.temperature, params.top_p = 0.0, 1.0  # top_p 0 keeps only the likeliest token
    opts = body.stream_options or {}
    return ChatRequest(f"chatcmpl-{uuid.uuid4().hex[:24]}", prompt, params.validate(), body.stream,
                       bool(opts.get("include_usage")))


def usage(req: ChatRequest, n: int) -> dict:
    return {"prompt_tokens": len(req.prompt), "completion_tokens": n, "total_tokens": len(req.prompt) + n}
