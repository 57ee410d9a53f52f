"""Field checks as Textual validators.

Textual's Input owns the `-invalid` CSS class: it re-validates on every
change, on blur and on submit, and sets or clears the class from its
validators. A class set by hand would be cleared on the next blur, so the
forms hand their checks to Input through this adapter instead.
"""

from __future__ import annotations

from typing import Callable

from textual.validation import ValidationResult, Validator


class Check(Validator):
    """Wraps `problem(text) -> message or None`."""

    def __init__(self, problem: Callable[[str], str | None]) -> None:
        super().__init__()
        self.problem = problem

    def validate(self, value: str) -> ValidationResult:
        message = self.problem(value)
        return self.success() if message is None else self.failure(message)
