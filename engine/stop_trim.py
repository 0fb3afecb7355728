"""Streamed text for stop strings: as tokens arrive, the text that is safe to show, holding back what could still
turn into a stop string. Shared by `minigpt generate` and the HTTP server; needs only the tokenizer.
"""

from __future__ import annotations

from engine.generate import trim_at_stop
from engine.tokenizer import Tokenizer


class StopTrimmer:
    """Streamed text pieces as tokens arrive: holds back an incomplete UTF-8 character and any tail that could be
    the start of a stop string, and ends the text before the first stop string."""

    def __init__(self, tok: Tokenizer, stops: list[str]):
        self.tok, self.stops, self.ids, self.sent, self.stopped = tok, stops, [], 0, False

    def _text(self) -> str:
        text, found = trim_at_stop(self.tok.decode(self.ids, skip_special=True), self.stops)
        self.stopped = self.stopped or found
        return text

    def push(self, token_id: int) -> str:
        self.ids.append(token_id)
        text = self._text()
        if text.endswith("\ufffd") and not self.stopped:
            return ""
        end = len(text)
        if not self.stopped:
            for s in self.stops:  # hold back the longest tail that is a prefix of a stop string
                end = min(end, next((len(text) - k for k in range(min(len(s) - 1, len(text)), 0, -1)
                                     if text.endswith(s[:k])), len(text)))
        piece, self.sent = text[self.sent:end], max(self.sent, end)
        return piece

    def flush(self) -> str:
        """What is left once generation ends (held-back text that turned out not to be a stop string)."""
        text = self._text()
        piece, self.sent = text[self.sent:], len(text)
        return piece
