"""The engine's config errors in the interface's language.

engine/config*.py words its errors in English ("optim.lr: must be positive and finite, got -1.0"), the same text
`minigpt train` prints. With the Chinese interface the wizard shows the knob's Chinese name beside its key and
puts the common phrasings ("must be >= 0", "must be in [0, 1)", "got X", "use one of: ...") into Chinese; a message
or hint this table does not know keeps its English words, so nothing is ever hidden. Torch-free: the Chinese knob
names come from engine/config_help_zh.py, read through engine.config
(the interface module the studio may import).
"""

from __future__ import annotations

import re

from engine.config import label_zh
from studio.i18n import active_language

# (English pattern of a whole message or hint, Chinese), tried in order; groups carry numbers and names over.
PHRASES_ZH: list[tuple[str, str]] = [
    (r"must be positive and finite", "必须是大于 0 的有限数"),
    (r"must be positive for the (\w+) stage", r"在 \1 阶段必须大于 0"),
    (r"must be positive", "必须大于 0"),
    (r"must be >= (\S+) and finite", r"必须是 ≥ \1 的有限数"),
    (r"must be >= (\S+) \((\S+) = off\)", r"必须 ≥ \1（\2 表示关闭）"),
    (r"must be > (\S+) \((\S+) = off\)", r"必须 > \1（\2 表示关闭）"),
    (r"must be >= (\S+) \((\S+) = greedy\)", r"必须 ≥ \1（\2 表示贪心解码）"),
    (r"must be >= (\S+) \((\S+) = automatic\)", r"必须 ≥ \1（\2 表示自动）"),
    (r"must be >= (\S+) \((\S+) = from the tokenizer\)", r"必须 ≥ \1（\2 表示从分词器读取）"),
    (r"must be >= (\S+)", r"必须 ≥ \1"),
    (r"must be > (\S+)", r"必须 > \1"),
    (r"must be in ([\[(][^,]+, [^\])]+[\])]), e\.g\. (\S+)", r"必须在 \1 范围内，例如 \2"),
    (r"must be in ([\[(][^,]+, [^\])]+[\])])", r"必须在 \1 范围内"),
    (r"must be between (\S+) and (\S+)", r"必须在 \1 到 \2 之间"),
    (r"must be a whole number or auto", "必须是整数或 auto"),
    (r"must be a whole number from (\S+) to (\S+)", r"必须是 \1 到 \2 之间的整数"),
    (r"must be a finite number", "必须是有限的数"),
    (r"expected a whole number or auto", "应为整数或 auto"),
    (r"expected a whole number", "应为整数"),
    (r"expected a number", "应为数字"),
    (r"write it in digits \(2000\) or as a whole power of ten \(2e3\)",
     "用数字写（2000），或写成 10 的整数次幂（2e3）"),
    (r"(\S+) is beyond the 64-bit integer range \((.+)\)", r"\1 超出了 64 位整数的范围（\2）"),
    (r"steps, token counts and tensor sizes are 64-bit integers in torch and in checkpoints",
     "步数、token 数和张量大小在 torch 和检查点里都是 64 位整数"),
    (r"typical values: (.+)", r"常用值：\1"),
    (r"typical: (.+)", r"常用：\1"),
    (r"use one of: (.+)", r"可选：\1"),
]
GOT = re.compile(r"^(.*), got (.+)$", re.DOTALL)


def phrase_zh(text: str) -> str:
    """One message or hint in Chinese where its phrasing is known; else unchanged."""
    got = GOT.match(text)
    head, value = (got.group(1), got.group(2)) if got else (text, None)
    for pattern, chinese in PHRASES_ZH:
        if re.fullmatch(pattern, head):
            head = re.sub(pattern, chinese, head)
            return head + (f"，当前为 {value}" if value is not None else "")
    return text


def config_error_text(key: str, message: str, hint: str = "") -> str:
    """What the wizard shows for a failed check: `message` is the engine's "key: what is wrong" (ConfigError's
    text), `hint` its suggestion. English: "message — hint", as the engine words them."""
    if active_language() != "zh":
        return message + (f" — {hint}" if hint else "")
    name = re.sub(r" \(\w+\)$", "", label_zh(key))   # "宽度 (d_model)": the key follows anyway
    where = f"{name}（{key}）：" if name else (f"{key}：" if key else "")
    return where + config_error_detail(key, message) + (f" —— {phrase_zh(hint)}" if hint else "")


def config_error_detail(key: str, message: str) -> str:
    """The part after "key: ", for a message shown beside the knob's own field."""
    what = message.split(": ", 1)[1] if key and message.startswith(f"{key}: ") else message
    return phrase_zh(what) if active_language() == "zh" else what
