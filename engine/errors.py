"""Errors a user can fix. The CLI turns them into one clear message and an `error` event.

Anything else that escapes is a bug in the engine and is reported with its traceback.
"""


class UserError(Exception):
    """A problem the user can fix: bad input, bad config, missing file. Carries a hint."""

    def __init__(self, message: str, hint: str = "", kind: str = "input"):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.kind = kind

    def __str__(self) -> str:
        return self.message
