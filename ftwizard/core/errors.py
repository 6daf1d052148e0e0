"""Errors meant for people: one clear message, exit code 2, no traceback."""

from __future__ import annotations

from collections.abc import Sequence


class UserError(Exception):
    """Bad input from the person at the keyboard (a file, a flag, a value).

    The CLI prints ``str(error)`` and exits with :attr:`exit_code`; it never shows
    a traceback for these.
    """

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


class ConfigError(UserError):
    """One or more problems in a run configuration, reported together."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        header = f"Invalid run configuration from {source} ({count} {noun}):"
        super().__init__("\n".join([header, *(f"  - {p}" for p in self.problems)]))


def in_words(error: BaseException) -> str:
    """One line for a person: a UserError's message and hint, or what else went wrong
    (for views that must show every failure, such as the wizard's workers)."""
    if isinstance(error, UserError):
        return error.message if not error.hint else f"{error.message} {error.hint}"
    return f"{type(error).__name__}: {error}"
