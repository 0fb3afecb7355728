"""One record of training data: which kind a parsed JSON line looks like, and its normalised shape for the loaders.

Owns the per-record rules (keys, types, roles, where a system turn may stand) and the reasons a record is rejected.
Knows nothing about files, line numbers or counting; formats.py reads files and reports bad lines.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

KINDS = ("pretrain", "sft", "preference", "rl_prompt")
ROLES = ("system", "user", "assistant")
CONVERSATION_KEYS = ("conversations", "messages")
RL_PLACEHOLDERS = ("", "空")  # a final assistant turn with no reply yet (minimind's rlaif-mini.jsonl writes "空")
_CJK = re.compile("[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")

ACCEPTED_SHAPES = """\
Each line must be one JSON object (JSON Lines); a single JSON array is not accepted. Accepted shapes:
  pretrain:   {"text": "..."}, or a .txt file (paragraphs separated by blank lines, else one record per line)
  sft:        {"conversations": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}
              (or "messages" instead of "conversations"), or Alpaca {"instruction": "...", "input": "", "output": "..."}
  preference: {"prompt": "...", "chosen": "...", "rejected": "..."},
              or {"chosen": [...messages ending with assistant], "rejected": [...same prompt turns, other answer]}
  rl_prompt:  {"prompt": "...", "answer": "..." (optional reference), ...other keys kept}, or a conversation whose
              last turn is the user's or a placeholder assistant turn (empty or "空", as in minimind's RLAIF data)"""


class RecordError(ValueError):
    """Why one parsed record does not fit its kind; the message is the reason shown after `file:line:`."""


def parse_line(text: str) -> Any:
    """The JSON value on one line; raises RecordError with the column of a syntax error."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        why = err.msg.removesuffix(" at")   # json's own text for a control character already ends in "at"
        hint = " (a raw tab or line break inside a string; write it as \\t or \\n)" if "control char" in why else ""
        raise RecordError(f"malformed JSON: {why} at column {err.colno}{hint}") from None
    except RecursionError:
        raise RecordError("malformed JSON: nested too deeply") from None


def classify(obj: Any) -> str | None:
    """The kind one parsed line looks like from its keys, or None when the keys say nothing."""
    if not isinstance(obj, dict):
        return None
    if "chosen" in obj and "rejected" in obj:
        return "preference"
    key = _conversation_key(obj)
    if key is not None:
        return _classify_conversation(obj[key])
    if "instruction" in obj and "output" in obj:
        return "sft"
    if "text" in obj:
        return "pretrain"
    if "prompt" in obj:
        return "rl_prompt"
    return None


def resembles(obj: Any) -> str | None:
    """The kind a record's keys point at even when classify() cannot decide (a conversation whose roles are all
    wrong, Alpaca without "output", half a preference pair), so its reason can be told; None when nothing fits."""
    if not isinstance(obj, dict):
        return None
    if "chosen" in obj or "rejected" in obj:
        return "preference"
    if _conversation_key(obj) is not None or "instruction" in obj or "output" in obj:
        return "sft"
    if "text" in obj:
        return "pretrain"
    if "prompt" in obj:
        return "rl_prompt"
    return None


def normalise(obj: Any, kind: str) -> dict:
    """The record in the shape the loaders read for `kind`; raises RecordError saying what is wrong."""
    if not isinstance(obj, dict):
        raise RecordError(f"expected a JSON object, got {_json_type(obj)}")
    return _NORMALISERS[kind](obj)


def record_texts(record: dict, kind: str) -> Iterator[str]:
    """Every piece of text a normalised record holds, for counting characters."""
    if kind == "pretrain":
        yield record["text"]
        return
    turns = record["prompt"] if kind == "preference" else record["messages"]
    for turn in turns:
        yield turn["content"]
    if kind == "preference":
        yield record["chosen"]
        yield record["rejected"]


def text_size(record: dict, kind: str) -> tuple[int, int]:
    """(characters, of which Chinese/Japanese/Korean) over every text a normalised record holds."""
    chars = cjk = 0
    for text in record_texts(record, kind):
        chars += len(text)
        cjk += 0 if text.isascii() else len(text) - len(_CJK.sub("", text))
    return chars, cjk


def estimate_tokens(chars: int, cjk_chars: int) -> int:
    """Rough BPE count: about 4 characters a token for English-like text, 1.5 for Chinese, Japanese and Korean."""
    return round((chars - cjk_chars) / 4 + cjk_chars / 1.5)


def _pretrain(obj: dict) -> dict:
    return {"text": _string_field(obj, "text")}


def _sft(obj: dict) -> dict:
    key = _conversation_key(obj)
    if key is not None:
        turns = _turns(obj[key], key)
        if not any(turn["role"] == "assistant" for turn in turns):
            raise RecordError(f'"{key}" has no assistant turn')
        return {"messages": turns}
    if "instruction" in obj or "output" in obj:
        return {"messages": _alpaca_turns(obj)}
    raise RecordError(
        f'expected "conversations", "messages", or Alpaca "instruction" + "output" (keys found: {_keys(obj)})'
    )


def _alpaca_turns(obj: dict) -> list[dict]:
    instruction = _string_field(obj, "instruction")
    extra = obj.get("input")
    if extra is None:
        extra = ""
    elif not isinstance(extra, str):
        raise RecordError(f'"input" must be a string, got {_json_type(extra)}')
    user = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    return [_turn_of("user", user), _turn_of("assistant", _string_field(obj, "output"))]


def _preference(obj: dict) -> dict:
    """{"prompt": turns, "chosen", "rejected"}, plus "tie": True for an A/B choice with no winner (DPO skips it)."""
    pair = _preference_pair(obj)
    return {**pair, "tie": True} if obj.get("tie") is True else pair


def _preference_pair(obj: dict) -> dict:
    for key in ("chosen", "rejected"):
        if key not in obj:
            raise RecordError(_missing(key, obj))
    chosen, rejected = obj["chosen"], obj["rejected"]
    if isinstance(chosen, str) and isinstance(rejected, str):
        if "prompt" not in obj:
            raise RecordError('missing key "prompt" (needed when "chosen" and "rejected" are strings)')
        prompt = _prompt_turns(obj["prompt"], "prompt")
        chosen = _string_field(obj, "chosen")
        return {"prompt": prompt, "chosen": chosen, "rejected": _distinct(chosen, _string_field(obj, "rejected"))}
    if isinstance(chosen, list) and isinstance(rejected, list):
        return _preference_from_turns(obj)
    raise RecordError(
        '"chosen" and "rejected" must both be strings or both be message lists '
        f"(got {_json_type(chosen)} and {_json_type(rejected)})"
    )


def _preference_from_turns(obj: dict) -> dict:
    """minimind style: both lists repeat the prompt turns and end with their own assistant answer."""
    prefix = _prompt_turns(obj["prompt"], "prompt") if "prompt" in obj else []
    chosen_prompt, chosen = _split_final_answer(prefix, obj["chosen"], "chosen")
    rejected_prompt, rejected = _split_final_answer(prefix, obj["rejected"], "rejected")
    if chosen_prompt != rejected_prompt:
        raise RecordError(_prompt_difference(chosen_prompt, rejected_prompt, len(prefix)))
    if not chosen_prompt or chosen_prompt[-1]["role"] != "user":
        raise RecordError('"chosen" needs a user turn right before its final assistant turn')
    return {"prompt": chosen_prompt, "chosen": chosen, "rejected": _distinct(chosen, rejected)}


def _distinct(chosen: str, rejected: str) -> str:
    """The rejected reply, when it differs from the chosen one: identical sides teach no preference."""
    if chosen.strip() == rejected.strip():
        raise RecordError('"chosen" and "rejected" are the same reply, so there is nothing to prefer')
    return rejected


def _prompt_difference(chosen: list[dict], rejected: list[dict], offset: int) -> str:
    """Where the prompt turns of the two sides part ways, as indices into the "chosen"/"rejected" lists."""
    head = '"chosen" and "rejected" must share a prompt (every turn before the final assistant turn)'
    differ = next((i for i, (a, b) in enumerate(zip(chosen, rejected, strict=False)) if a != b), None)
    if differ is None:
        return f'{head}, but "chosen" has {len(chosen) - offset} such turns and "rejected" has {len(rejected) - offset}'
    i = differ - offset  # a shared "prompt" key comes first in both, so the difference is past it
    return f"{head}, but chosen[{i}] and rejected[{i}] differ"


def _split_final_answer(prefix: list[dict], value: Any, field: str) -> tuple[list[dict], str]:
    turns = prefix + _turns(value, field, system_first=not prefix)
    if turns[-1]["role"] != "assistant":
        raise RecordError(f'"{field}" must end with an assistant turn (it ends with {turns[-1]["role"]})')
    return turns[:-1], turns[-1]["content"]


def _rl_prompt(obj: dict) -> dict:
    """Prompt turns ending with the user's, a minimind RLAIF placeholder reply dropped; "answer" kept as text."""
    key = _conversation_key(obj)
    if key is not None:
        turns = _turns(_without_placeholder(obj[key], key), key)
        _require_user_last(turns, key)
    elif "prompt" in obj:
        turns = _prompt_turns(obj["prompt"], "prompt")
    else:
        raise RecordError(
            f'expected "prompt", or "conversations"/"messages" ending with a user turn (keys found: {_keys(obj)})'
        )
    extras = {k: v for k, v in obj.items() if k not in ("prompt", *CONVERSATION_KEYS)}
    if "answer" in extras:
        extras["answer"] = _reference_answer(extras["answer"])
    return {"messages": turns, **extras}


def _without_placeholder(value: Any, field: str) -> Any:
    """The turns before a final assistant placeholder; a final assistant turn with a real reply is an error."""
    if not isinstance(value, list) or not value or not _is_assistant(value[-1]):
        return value
    content = value[-1].get("content")
    if isinstance(content, str) and content.strip() in RL_PLACEHOLDERS:
        return value[:-1]
    raise RecordError(
        f'"{field}" ends with an assistant reply; an RL prompt ends with the user\'s turn '
        f'or an empty placeholder reply ("" or "空")'
    )


def _is_assistant(item: Any) -> bool:
    return isinstance(item, dict) and item.get("role") == "assistant"


def _reference_answer(value: Any) -> str:
    """A reference answer as text: a JSON number (e.g. 85) is read as its digits."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return json.dumps(value)
    if not isinstance(value, str) or not value.strip():
        raise RecordError(f'"answer" must be a non-empty string or a number, got {_json_repr(value)}')
    return value


def _prompt_turns(value: Any, field: str) -> list[dict]:
    """A prompt given as a string (one user turn) or as messages ending with the user's turn."""
    if isinstance(value, str):
        return [_turn_of("user", _non_empty(value, field))]
    if isinstance(value, list):
        turns = _turns(value, field)
        _require_user_last(turns, field)
        return turns
    raise RecordError(f'"{field}" must be a string or a list of messages, got {_json_type(value)}')


def _require_user_last(turns: list[dict], field: str) -> None:
    if turns[-1]["role"] != "user":
        raise RecordError(f'"{field}" must end with a user turn (it ends with {turns[-1]["role"]})')


def _turns(value: Any, field: str, system_first: bool = True) -> list[dict]:
    """Validated {"role", "content"} turns; a system turn may only open the conversation."""
    if not isinstance(value, list):
        raise RecordError(f'"{field}" must be a list of messages, got {_json_type(value)}')
    if not value:
        raise RecordError(f'"{field}" is empty')
    turns = [_turn(item, f"{field}[{i}]") for i, item in enumerate(value)]
    for i, turn in enumerate(turns):
        if turn["role"] == "system" and (i > 0 or not system_first):
            raise RecordError(f"{field}[{i}]: a system turn may only come first")
    return turns


def _turn(item: Any, where: str) -> dict:
    if not isinstance(item, dict):
        raise RecordError(f"{where} must be an object with role and content, got {_json_type(item)}")
    for key in ("role", "content"):
        if key not in item:
            raise RecordError(f'{where} has no "{key}"')
    role, content = item["role"], item["content"]
    if role not in ROLES:
        raise RecordError(f"{where}.role {_json_repr(role)} is not one of {', '.join(ROLES)}")
    if not isinstance(content, str):
        raise RecordError(f"{where}.content must be a string, got {_json_type(content)}")
    if role != "system" and not content.strip():
        raise RecordError(f"{where}.content is empty")
    return _turn_of(role, content)


def _turn_of(role: str, content: str) -> dict:
    return {"role": role, "content": content}


def _string_field(obj: dict, key: str) -> str:
    if key not in obj:
        raise RecordError(_missing(key, obj))
    return _non_empty(obj[key], key)


def _non_empty(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise RecordError(f'"{field}" must be a string, got {_json_type(value)}')
    if not value.strip():
        raise RecordError(f'"{field}" is empty')
    return value


def _conversation_key(obj: dict) -> str | None:
    return next((key for key in CONVERSATION_KEYS if key in obj), None)


def _classify_conversation(turns: Any) -> str | None:
    if not isinstance(turns, list) or not turns or not isinstance(turns[-1], dict):
        return None
    last = turns[-1]
    if _is_assistant(last) and isinstance(last.get("content"), str) and last["content"].strip() in RL_PLACEHOLDERS:
        return "rl_prompt"  # minimind's RLAIF lines: the reply is left for the policy to write
    return {"assistant": "sft", "user": "rl_prompt"}.get(last.get("role"))


def _missing(key: str, obj: dict) -> str:
    return f'missing key "{key}" (keys found: {_keys(obj)})'


def _keys(obj: dict) -> str:
    return ", ".join(str(key) for key in obj) or "none"


def _json_repr(value: Any) -> str:
    """A short JSON rendering of a value for a reason text."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


_NORMALISERS = {"pretrain": _pretrain, "sft": _sft, "preference": _preference, "rl_prompt": _rl_prompt}
