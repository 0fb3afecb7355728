"""Render normalised data records (engine.data.formats.preview_records) as small HTML for previews.

Text records show as paragraphs, conversations as role-labelled turns, preference pairs as their prompt above the
chosen and rejected replies side by side, RL prompts as their prompt and expected answer.
"""

from __future__ import annotations

import html

from studio.i18n import tr

ROLE_COLOURS = {"user": "#3b82f6", "assistant": "#16a34a", "system": "#9333ea"}
MAX_CHARS = 600


def _esc(text: object) -> str:
    s = str(text)
    if len(s) > MAX_CHARS:
        s = s[:MAX_CHARS] + " …"
    return html.escape(s).replace("\n", "<br>")



def _turns(messages: list) -> str:
    out = []
    for m in messages or []:
        if not isinstance(m, dict):
            continue
        role = str(m.get("role", ""))
        colour = ROLE_COLOURS.get(role, "#888")
        out.append(f"<div><b style='color:{colour}'>{html.escape(role)}</b>: {_esc(m.get('content', ''))}</div>")
    return "".join(out)


def _answer(value: object) -> str:
    return _turns(value) if isinstance(value, list) else _esc(value)


def _pair(rec: dict) -> str:
    """The prompt, then a two-column table: chosen (green) beside rejected (red); a tie says so."""
    cell = "<td width='50%' valign='top' style='padding:4px 8px; border-left:3px solid {c}'>{body}</td>"
    tie = tr("tie: no side preferred (skipped by DPO)")
    tie = f"<div style='color:#888'>{tie}</div>" if rec.get("tie") else ""
    chosen, rejected = tr("chosen"), tr("rejected")
    return (f"{_answer(rec.get('prompt'))}{tie}<table width='100%' cellspacing='4'>"
            f"<tr><th align='left' style='color:#16a34a'>{chosen}</th>"
            f"<th align='left' style='color:#d9534f'>{rejected}</th></tr>"
            f"<tr>{cell.format(c='#16a34a', body=_answer(rec['chosen']))}"
            f"{cell.format(c='#d9534f', body=_answer(rec['rejected']))}</tr></table>")


def render_record(rec: dict, kind: str) -> str:
    if "text" in rec:
        return _esc(rec["text"])
    if "messages" in rec or "conversations" in rec:
        body = _turns(rec.get("messages") or rec.get("conversations"))
        if "answer" in rec:
            body += "<div style='color:#888'>" + tr("expected answer:") + f" {_esc(rec['answer'])}</div>"
        return body
    if "chosen" in rec:
        return _pair(rec)
    if "prompt" in rec:
        body = _answer(rec["prompt"])
        if rec.get("answer"):
            body += "<div style='color:#888'>" + tr("expected answer:") + f" {_esc(rec['answer'])}</div>"
        return body
    return _esc(rec)


def render_records(records: list[dict], kind: str) -> str:
    if not records:
        return "<i>" + tr("no records to preview") + "</i>"
    items = [f"<div style='margin-bottom:10px'><span style='color:#888'>#{i + 1}</span> {render_record(r, kind)}</div>"
             for i, r in enumerate(records)]
    return "<hr>".join(items)
