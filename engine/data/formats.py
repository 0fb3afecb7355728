"""Data files on disk: detect which kind a file holds, validate it line by line, and stream its normalised records.

Owns file reading (binary, decoded line by line, never whole), bad-line reports and the `minigpt data check` summary.
No torch and no tokenizer, so the studio can import it. Record rules live in records.py, text encodings in encoding.py.
"""

from __future__ import annotations

import errno
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from engine.data.encoding import DEFAULT as DEFAULT_ENCODING
from engine.data.encoding import LineDecoder, check_encoding
from engine.data.records import (
    ACCEPTED_SHAPES,
    KINDS,
    RecordError,
    classify,
    estimate_tokens,
    normalise,
    parse_line,
    resembles,
    text_size,
)
from engine.errors import UserError

TEXT_SUFFIXES = (".txt",)
CHECK_EVERY_ITEMS = 1000  # how often validate_file reports progress and asks whether it was cancelled
TXT_PARAGRAPH_WINDOW_BYTES = 4 << 20  # paragraphs vs lines in a .txt is decided from its first 4 MiB
QUOTED_BAD_LINES = 5
SUMMARY_BAD_LINES = 20


class Cancelled(Exception):
    """validate_file stopped because the caller's cancelled() said so."""


@dataclass(frozen=True)
class BadLine:
    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass(frozen=True)
class FileReport:
    path: str
    kind: str
    records: int
    bad_lines: list[BadLine]
    chars: int
    est_tokens: int
    total_lines: int
    bad_count: int = 0
    """Every bad line found, also those past the `max_bad_lines` kept in bad_lines; never less than len(bad_lines)."""

    def __post_init__(self) -> None:
        if self.bad_count < len(self.bad_lines):
            object.__setattr__(self, "bad_count", len(self.bad_lines))

    @property
    def ok(self) -> bool:
        return self.bad_count == 0

    @property
    def bad_share(self) -> float:
        seen = self.records + self.bad_count
        return self.bad_count / seen if seen else 0.0


def detect_format(path: str | os.PathLike, sample_lines: int = 50, encoding: str = DEFAULT_ENCODING) -> str:
    """The kind of data in a file, decided by the keys of its first `sample_lines` JSON lines (a .txt is pretrain).

    `encoding` is the `data.encoding` setting: utf-8, auto (guess this file's), or a Python codec name.
    """
    label = existing_file(path)
    if _is_text_file(label):
        if not _has_content(label):
            raise _empty_file(label)
        return "pretrain"
    sample = _sample_keys(label, sample_lines, LineDecoder(label, check_encoding(encoding)))
    if sample.non_blank == 0:
        raise _empty_file(label)
    if not sample.votes:
        raise _undecidable(label, sample)
    return sample.votes.most_common(1)[0][0]


def validate_file(
    path: str | os.PathLike,
    kind: str | None = None,
    max_bad_lines: int = 1000,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    encoding: str = DEFAULT_ENCODING,
) -> FileReport:
    """Stream the whole file once: count records, characters and bad lines (keeping at most `max_bad_lines`)."""
    label, kind, decoder = _prepare(path, kind, encoding)
    total_bytes = os.path.getsize(label)
    cursor = _Cursor()
    tally = _Tally(kind=kind, max_bad_lines=max_bad_lines)
    _raise_if_cancelled(cancelled)
    for n, item in enumerate(_items(label, kind, cursor, decoder), start=1):
        tally.add(item)
        if n % CHECK_EVERY_ITEMS == 0:
            _raise_if_cancelled(cancelled)
            if progress is not None:
                progress(cursor.bytes_done, max(total_bytes, cursor.bytes_done))
    if progress is not None:
        progress(cursor.bytes_done, max(total_bytes, cursor.bytes_done))
    return tally.report(label, cursor.lines)


def check_bad_share(report: FileReport, max_bad_fraction: float = 0.05) -> None:
    """Raise a UserError quoting the first bad lines when too many lines are bad, or none is usable."""
    if report.records > 0 and report.bad_share <= max_bad_fraction:
        return
    if report.records == 0:
        headline = f"{report.path}: no valid {report.kind} records ({report.bad_count:,} bad lines)"
    else:
        headline = (
            f"{report.path}: {report.bad_count:,} of {report.records + report.bad_count:,} records are bad "
            f"({report.bad_share:.1%}), more than the allowed {max_bad_fraction:.1%}"
        )
    quoted = "\n".join(f"  {bad}" for bad in report.bad_lines[:QUOTED_BAD_LINES])
    more = report.bad_count - min(len(report.bad_lines), QUOTED_BAD_LINES)
    tail = f"\n  ... and {more:,} more" if more > 0 else ""
    raise UserError(
        f"{headline}. First bad lines:\n{quoted}{tail}",
        hint=(
            f"Fix or delete the bad lines (`minigpt data check {report.path}` lists them), "
            "or allow a larger share of bad lines (max_bad_fraction)."
        ),
    )


def iter_records(path: str | os.PathLike, kind: str | None = None,
                 encoding: str = DEFAULT_ENCODING) -> Iterator[dict]:
    """Every valid record, normalised for its kind, streamed; bad lines are skipped (validate_file reports them)."""
    label, kind, decoder = _prepare(path, kind, encoding)  # checked now, not at the first next()
    return (item for item in _items(label, kind, _Cursor(), decoder) if not isinstance(item, BadLine))


def iter_numbered_records(path: str | os.PathLike, kind: str,
                          encoding: str = DEFAULT_ENCODING) -> Iterator[tuple[int, dict]]:
    """(line number, record) for every valid record of a JSON Lines file, so a later skip can name file:line."""
    label, kind, decoder = _prepare(path, kind, encoding)
    cursor = _Cursor()
    return ((cursor.lines, item) for item in _items(label, kind, cursor, decoder) if not isinstance(item, BadLine))


def preview_records(path: str | os.PathLike, limit: int = 20, kind: str | None = None,
                    encoding: str = DEFAULT_ENCODING) -> list[dict]:
    """The first `limit` valid normalised records; reads only as far into the file as it needs."""
    return list(islice(iter_records(path, kind, encoding), limit))


def summarize(reports: list[FileReport]) -> str:
    """The human report of `minigpt data check`: one line per file, a total, then the first bad lines."""
    if not reports:
        return "No data files checked."
    lines = [_report_line(report.path, report.kind, report) for report in reports]
    if len(reports) > 1:
        lines.append(_report_line("total", None, *reports))
    bad = [bad for report in reports for bad in report.bad_lines]
    if bad:
        lines += ["", "First bad lines:"] + [f"  {line}" for line in bad[:SUMMARY_BAD_LINES]]
        more = sum(report.bad_count for report in reports) - min(len(bad), SUMMARY_BAD_LINES)
        if more > 0:
            lines.append(f"  ... and {more:,} more")
    return "\n".join(lines)


def _report_line(name: str, kind: str | None, *reports: FileReport) -> str:
    records = sum(report.records for report in reports)
    bad_count = sum(report.bad_count for report in reports)
    seen = records + bad_count
    bad = f"{bad_count:,} bad lines" + (f" ({bad_count / seen:.2%})" if bad_count else "")
    chars = sum(report.chars for report in reports)
    tokens = sum(report.est_tokens for report in reports)
    head = f"{name}: {kind}," if kind else f"{name}:"
    return f"{head} {records:,} records, {bad}, {chars:,} chars, ~{tokens:,} tokens"


@dataclass
class _Cursor:
    """How far a scan has read, for progress reports and FileReport.total_lines."""

    bytes_done: int = 0
    lines: int = 0
    content_lines: int = 0


@dataclass
class _Tally:
    kind: str
    max_bad_lines: int
    records: int = 0
    chars: int = 0
    cjk_chars: int = 0
    bad_count: int = 0
    bad_lines: list[BadLine] = field(default_factory=list)

    def add(self, item: dict | BadLine) -> None:
        if isinstance(item, BadLine):
            self.bad_count += 1
            if len(self.bad_lines) < self.max_bad_lines:
                self.bad_lines.append(item)
            return
        self.records += 1
        chars, cjk_chars = text_size(item, self.kind)
        self.chars += chars
        self.cjk_chars += cjk_chars

    def report(self, label: str, total_lines: int) -> FileReport:
        return FileReport(
            path=label,
            kind=self.kind,
            records=self.records,
            bad_lines=self.bad_lines,
            chars=self.chars,
            est_tokens=estimate_tokens(self.chars, self.cjk_chars),
            total_lines=total_lines,
            bad_count=self.bad_count,
        )


@dataclass
class _KeySample:
    """What the first lines of a JSON Lines file say about its kind."""

    votes: Counter[str] = field(default_factory=Counter)
    keys: dict[str, None] = field(default_factory=dict)  # every key seen, in first-seen order
    parsed: int = 0
    non_blank: int = 0
    undecodable: BadLine | None = None  # the first line the encoding could not read
    near_miss: tuple[int, str, str] | None = None  # (line, kind it resembles, why it is not one) of the first such


def _sample_keys(label: str, sample_lines: int, decoder: LineDecoder) -> _KeySample:
    """Vote on the kind with the first `sample_lines` lines that parse (giving up after 20 times as many lines)."""
    sample = _KeySample()
    for line_no, text in _decoded_lines(label, _Cursor(), decoder):
        if isinstance(text, str) and not text.strip():
            continue
        sample.non_blank += 1
        if isinstance(text, BadLine) and sample.undecodable is None:
            sample.undecodable = text
        obj = _parsed_or_none(text)
        if obj is not None:
            sample.parsed += 1
            if isinstance(obj, dict):
                sample.keys.update(dict.fromkeys(obj))
            kind = classify(obj)
            if kind is not None:
                sample.votes[kind] += 1
            elif sample.near_miss is None:
                sample.near_miss = _near_miss(obj, line_no)
        if sample.parsed >= sample_lines or sample.non_blank >= 20 * sample_lines:
            break
    return sample


def _near_miss(obj: object, line_no: int) -> tuple[int, str, str] | None:
    """A record whose keys point at one kind but which breaks that kind's rules (a wrong role, Alpaca without
    "output"): the line, the kind and the reason, so the user hears which field is wrong rather than "cannot tell"."""
    kind = resembles(obj)
    if kind is None:
        return None
    try:
        normalise(obj, kind)
    except RecordError as err:
        return line_no, kind, str(err)
    return None


def _prepare(path: str | os.PathLike, kind: str | None, encoding: str) -> tuple[str, str, LineDecoder]:
    label = existing_file(path)
    decoder = LineDecoder(label, check_encoding(encoding))
    if kind is None:
        return label, detect_format(label, encoding=encoding), decoder
    if kind not in KINDS:
        raise UserError(f"unknown data kind {kind!r}", hint=f"Use one of: {', '.join(KINDS)}.", kind="config")
    if _is_text_file(label) and kind != "pretrain":
        raise UserError(
            f"{label}: a .txt file holds plain text, so it can only be pretrain data, not {kind}",
            hint=ACCEPTED_SHAPES,
        )
    return label, kind, decoder


def _items(label: str, kind: str, cursor: _Cursor, decoder: LineDecoder) -> Iterator[dict | BadLine]:
    """Normalised records and BadLines in file order; raises UserError when the file holds no content at all."""
    if _is_text_file(label):
        yield from _text_items(label, cursor, decoder)
    else:
        yield from _jsonl_items(label, kind, cursor, decoder)
    if cursor.content_lines == 0:
        raise _empty_file(label)


def _jsonl_items(label: str, kind: str, cursor: _Cursor, decoder: LineDecoder) -> Iterator[dict | BadLine]:
    for line_no, text in _decoded_lines(label, cursor, decoder):
        if isinstance(text, BadLine):
            cursor.content_lines += 1
            yield text
        elif text.strip():
            cursor.content_lines += 1
            try:
                yield normalise(parse_line(text), kind)
            except RecordError as err:
                yield BadLine(label, line_no, str(err))


def _text_items(label: str, cursor: _Cursor, decoder: LineDecoder) -> Iterator[dict | BadLine]:
    """Paragraphs (blank-line separated) become records; in a file without blank lines, each line does."""
    by_paragraph = _has_paragraphs(label)
    paragraph: list[str] = []
    for _, text in _decoded_lines(label, cursor, decoder):
        if isinstance(text, BadLine):
            cursor.content_lines += 1
            yield text
            continue
        line = text.rstrip("\r\n")
        if line.strip():
            cursor.content_lines += 1
            paragraph.append(line)
        if paragraph and (not by_paragraph or not line.strip()):
            yield {"text": "\n".join(paragraph)}
            paragraph = []
    if paragraph:
        yield {"text": "\n".join(paragraph)}


def _decoded_lines(label: str, cursor: _Cursor, decoder: LineDecoder) -> Iterator[tuple[int, str | BadLine]]:
    """(1-based line number, text) per line; a line the encoding cannot read comes back as a BadLine that says
    which encoding the file seems to be in and how to read or convert it."""
    with open(label, "rb") as file:
        for line_no, raw in enumerate(file, start=1):
            cursor.bytes_done += len(raw)
            cursor.lines = line_no
            try:
                text = decoder.decode(raw, line_no)
            except UnicodeDecodeError as err:
                yield line_no, BadLine(label, line_no, decoder.reason(raw, err))
                continue
            yield line_no, text


def _parsed_or_none(text: str | BadLine) -> object | None:
    try:
        return parse_line(text) if isinstance(text, str) else None
    except RecordError:
        return None


def _has_paragraphs(label: str) -> bool:
    """True when a blank line separates two non-blank lines within the file's first window of bytes."""
    seen_text = blank_after_text = False
    read = 0
    with open(label, "rb") as file:
        for raw in file:
            read += len(raw)
            if raw.strip():
                if blank_after_text:
                    return True
                seen_text = True
            elif seen_text:
                blank_after_text = True
            if read >= TXT_PARAGRAPH_WINDOW_BYTES:
                break
    return False


def _has_content(label: str) -> bool:
    with open(label, "rb") as file:
        return any(raw.strip() for raw in file)


def broken_link_reason(label: str) -> str:
    """Why a symbolic link leads nowhere: a loop, or a target that does not exist."""
    try:
        os.stat(label)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return f"{label}: a symbolic link loop (a link that points back to itself)"
    return f"{label}: a symbolic link to {os.readlink(label)}, which does not exist"


def existing_file(path: str | os.PathLike) -> str:
    """The path as text if it names a readable regular file; else a UserError naming it, with a hint."""
    label = os.fspath(path)
    if not os.path.exists(label) and os.path.islink(label):
        raise UserError(broken_link_reason(label), hint="Fix or remove the link, or give the file's real path.")
    if not os.path.exists(label):
        raise UserError(
            f"{label}: file not found",
            hint=f"Check the path; a relative path is read from the current folder ({os.getcwd()}).",
        )
    if not os.path.isfile(label):
        raise UserError(f"{label} is not a file", hint="Give one data file (.jsonl or .txt), not a folder.")
    return label


def _is_text_file(label: str) -> bool:
    return Path(label).suffix.lower() in TEXT_SUFFIXES


def _raise_if_cancelled(cancelled: Callable[[], bool] | None) -> None:
    if cancelled is not None and cancelled():
        raise Cancelled()


def _empty_file(label: str) -> UserError:
    return UserError(
        f"{label} is empty",
        hint="The file has no records (only blank lines, or nothing). Pick another file or add data to it.",
    )


def _undecidable(label: str, sample: _KeySample) -> UserError:
    if sample.parsed == 0 and sample.undecodable is not None:
        bad = sample.undecodable
        return UserError(f"{bad.path}: line {bad.line}: {bad.reason}",
                         hint="Data files are read as UTF-8 unless data.encoding says otherwise (`--set "
                              "data.encoding=...` for train, `--encoding` for data check and tokenizer train, the Text "
                              "encoding box on the studio's Data page); auto guesses each file's encoding.")
    if sample.near_miss is not None:
        line, kind, reason = sample.near_miss
        return UserError(f"{label}: line {line}: looks like {kind} data, but {reason}", hint=ACCEPTED_SHAPES)
    if sample.parsed == 0:
        message = (
            f"{label}: cannot tell what kind of data this is; none of its first {sample.non_blank} lines is valid JSON"
        )
    else:
        shown = ", ".join(list(sample.keys)[:20]) or "none"
        message = f"{label}: cannot tell what kind of data this is (keys seen: {shown})"
    return UserError(message, hint=ACCEPTED_SHAPES)
