"""The manual's Markdown made readable in a QTextBrowser, which renders Markdown but not TeX: every `$...$` and
`$$...$$` formula becomes Unicode text (β, π_ref, ∑_t, a/b) through pylatexenc; code blocks and code spans are
left exactly as written (a `$` there is a shell prompt, not math).
"""

from __future__ import annotations

import re

from pylatexenc.latex2text import LatexNodes2Text

_FENCE = re.compile(r"^```.*?^```[^\n]*$", re.S | re.M)
_DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.S)
_INLINE = re.compile(r"(?<![\\$])\$(?!\s)([^$\n]+?)(?<!\s)\$(?!\$)")
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_MARKDOWN_SPECIAL = re.compile(r"([\\_*\[\]<>|#])")
_CASES = re.compile(r"\\begin\{cases\}(.*?)\\end\{cases\}", re.S)
_converter = LatexNodes2Text(math_mode="text", strict_latex_spaces=False)


def tex_to_text(tex: str) -> str:
    """One formula as plain Unicode text on one line (or several, for aligned cases)."""
    # pylatexenc drops a cases row's `&`, gluing value and condition ("z_v / α z_v > 0"): keep them apart
    tex = _CASES.sub(lambda m: re.sub(r"\s*&", r"\\text{, }", m.group(0)), tex)
    text = _converter.latex_to_text(tex)
    return re.sub(r"[ \t]+", " ", text).strip()


def _escape(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _prose(text: str) -> str:
    """Convert the formulas of a stretch of Markdown that holds no fenced code block."""
    def display(m: re.Match) -> str:
        lines = [line.strip() for line in tex_to_text(m.group(1)).splitlines() if line.strip()]
        return "\n\n" + "\n".join(f"    {line}" for line in lines) + "\n\n"   # an indented (code) block keeps layout

    text = _DISPLAY.sub(display, text)
    parts, last = [], 0
    for span in _CODE_SPAN.finditer(text):                 # inline math only outside `code spans`
        parts.append(_INLINE.sub(lambda m: _escape(tex_to_text(m.group(1))), text[last:span.start()]))
        parts.append(span.group(0))
        last = span.end()
    parts.append(_INLINE.sub(lambda m: _escape(tex_to_text(m.group(1))), text[last:]))
    return "".join(parts)


def readable_markdown(markdown: str) -> str:
    """The chapter with its formulas as Unicode text and its code blocks untouched."""
    out, last = [], 0
    for fence in _FENCE.finditer(markdown):
        out.append(_prose(markdown[last:fence.start()]))
        out.append(fence.group(0))
        last = fence.end()
    out.append(_prose(markdown[last:]))
    return "".join(out)
