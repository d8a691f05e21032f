"""The project's error type for problems the user can fix."""

from __future__ import annotations


class ArtvError(Exception):
    """A user-fixable problem: one line that names it, and the next step to take."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}: {self.hint}" if self.hint else self.message
