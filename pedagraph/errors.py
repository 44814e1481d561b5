"""Exceptions that carry a one-line, user-facing message (no secrets, no traceback needed)."""

from __future__ import annotations


class PedagraphError(Exception):
    """Base class: an error whose message says what is wrong and how to fix it."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint

    def one_line(self) -> str:
        """Return the message and, if any, the fix hint on one line."""
        msg = str(self)
        return f"{msg} — {self.hint}" if self.hint else msg


class ConfigError(PedagraphError):
    """The configuration (file, environment or arguments) is invalid."""


class ModelError(PedagraphError):
    """A model backend failed: unreachable, unauthorised, unknown model, timed out after retries."""

    def __init__(self, message: str, *, role: str = "", model: str = "", hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.role = role
        self.model = model


class StructuredOutputError(ModelError):
    """A model did not return output matching the requested schema, even after one repair attempt."""


class DataError(PedagraphError):
    """An input file or dataset is missing, malformed or unsupported."""
