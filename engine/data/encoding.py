"""How a data file's bytes become text: the `data.encoding` setting (utf-8, auto, or any Python codec name), the
guess of a file's real encoding when it is not the one set, and the advice to convert it.

The guess comes from charset-normalizer (pure Python, no torch, imported only when needed). Knows nothing about
JSON or records; formats.py decodes lines with a LineDecoder.
"""

from __future__ import annotations

import codecs
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import UserError

DEFAULT = "utf-8"
AUTO = "auto"
GUESS_BYTES = 1 << 20  # the guess reads the file's first MiB
# Lines are split on the byte 0x0A before decoding, which only works for encodings that keep ASCII as it is.
_NOT_LINE_SAFE = ("utf_16", "utf_32")


def encoding_problem(name: object) -> tuple[str, str] | None:
    """(what is wrong, hint) when `name` is neither `auto` nor a codec that can read JSON Lines; else None."""
    if name == AUTO:
        return None
    try:
        codec = codecs.lookup(name).name  # type: ignore[arg-type]
    except (LookupError, TypeError):
        return (f"unknown text encoding {name!r}", "use utf-8 (the default), auto (guess per file), or a Python "
                "codec name such as gb18030, gbk, big5, shift_jis, cp1252 or latin-1")
    if codec.replace("-", "_").startswith(_NOT_LINE_SAFE):
        return (f"{name} files cannot be read line by line",
                f"convert the file to UTF-8 first, e.g. iconv -f {str(name).upper()} -t UTF-8 IN > OUT")
    return None


def check_encoding(name: str, where: str = "data.encoding") -> str:
    """`name` if encoding_problem() finds nothing, else a UserError naming `where`."""
    problem = encoding_problem(name)
    if problem is not None:
        raise UserError(f"{where}: {problem[0]}", problem[1], kind="config")
    return name


def guess_encoding(path: str) -> str | None:
    """The likely encoding of a file from its first MiB (a Python codec name), or None when nothing fits."""
    from charset_normalizer import from_bytes

    with open(path, "rb") as file:
        sample = file.read(GUESS_BYTES)
    if len(sample) == GUESS_BYTES:  # do not end the sample inside a multi-byte character
        sample = sample[:sample.rfind(b"\n") + 1] or sample
    try:
        sample.decode("utf-8")
        return "utf-8"  # also plain ASCII, which later lines may extend with UTF-8
    except UnicodeDecodeError:
        pass
    matches = from_bytes(sample)
    best = matches.best()
    if best is None:
        return None
    name = codecs.lookup(best.encoding).name
    # Mostly-ASCII Western text fits many single-byte code pages almost equally well (a French cp1252 file can come
    # out as Baltic cp1257); among near-equal single-byte guesses take cp1252, the Windows default for such text.
    if _single_byte(name) and any(codecs.lookup(m.encoding).name == "cp1252" and m.chaos <= best.chaos + 0.15
                                      for m in matches):
        return "cp1252"
    # GBK and GB2312 are subsets of GB18030: reading with the superset never fails on a file that fits a subset.
    return "gb18030" if name in ("gbk", "gb2312") else name


def _single_byte(codec: str) -> bool:
    """True for a code page that maps each byte to one character (cp1257, latin-1), false for GB18030 or UTF-8."""
    return not codec.startswith("utf") and len(bytes(range(128, 256)).decode(codec, errors="replace")) == 128


def convert_command(path: str, encoding: str) -> str:
    """An iconv command line that writes a UTF-8 copy of `path` next to it."""
    p = Path(path)
    out = p.with_name(f"{p.stem}.utf8{p.suffix}")
    return f"iconv -f {encoding.upper()} -t UTF-8 {shlex.quote(str(p))} > {shlex.quote(str(out))}"


@dataclass
class LineDecoder:
    """Decodes one file's lines with the chosen encoding; `auto` guesses once per file, at the first use."""

    path: str
    setting: str = DEFAULT
    _codec: str | None = None
    _guess: list[str | None] = field(default_factory=list)  # the guess, once made (empty: not made yet)

    @property
    def codec(self) -> str:
        if self._codec is None:
            self._codec = (self.guess() or DEFAULT) if self.setting == AUTO else self.setting
        return self._codec

    def guess(self) -> str | None:
        if not self._guess:
            self._guess.append(guess_encoding(self.path))
        return self._guess[0]

    def decode(self, raw: bytes, line_no: int) -> str:
        """The line as text; raises UnicodeDecodeError with a reason set up by `reason()`."""
        text = raw.decode(self.codec)
        return text.removeprefix("\ufeff") if line_no == 1 else text

    def reason(self, raw: bytes, err: UnicodeDecodeError) -> str:
        """Why a line could not be read, with the likely encoding and how to read or convert the file."""
        shown = "UTF-8" if codecs.lookup(self.codec).name == "utf-8" else self.codec
        where = f"byte 0x{raw[err.start]:02x} at byte {err.start + 1} of the line"
        guess = self.guess()
        if guess is None:
            return f"not valid {shown} ({where}); the file's encoding could not be recognised"
        if codecs.lookup(guess).name == codecs.lookup(self.codec).name:
            return f"not valid {shown} ({where}); the line is damaged or in another encoding than the rest"
        return (f"not valid {shown} ({where}); the file looks like {guess.upper()} text: set data.encoding: {guess} "
                f"(or auto), or convert it: {convert_command(self.path, guess)}")
