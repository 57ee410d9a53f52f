"""User-facing errors and process exit codes.

Anything a user can cause (bad numbers, missing files, a run that does not
exist) raises an AeklError; each face words it and exits with its code.
Everything else is a bug and keeps its traceback.

An error about one value carries `field` (an AEConfig field or another plain
name such as "samples"), `value` and `rule`, so that the CLI can name its
flag and the TUI can mark its input without reading the message text.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1  # the run failed: diverged, disk full, out of memory
    USAGE = 2  # bad input, unknown run, missing data: the user can fix it
    INTERRUPTED = 130  # 128 + SIGINT
    TERMINATED = 143  # 128 + SIGTERM


# How a field is named in prose when no face has a better word for it.
FIELD_WORDS = {
    "latent": "latent size",
    "batch_size": "batch size",
    "lr": "learning rate",
    "interp_from": "start index",
    "interp_to": "end index",
    "interp_steps": "interpolation steps",
    "data_dir": "data folder",
    "runs_dir": "runs folder",
}


def field_word(field: str) -> str:
    return FIELD_WORDS.get(field, field.replace("_", " "))


class AeklError(Exception):
    """An error whose message is meant for the user, on one line.

    Either a ready `message`, or `field` + `value` + `rule` from which the
    message "<field> <rule>, got <value>" is made (a face may word it anew
    with `worded`). `hint` says what the user can do, with "{name}" where the
    face puts its name for `field` (e.g. "use {name} to replace it").
    """

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str | None = None, *, field: str | None = None,
                 value: Any = None, rule: str | None = None, hint: str | None = None):
        self.field, self.value, self.rule, self.hint = field, value, rule, hint
        if message is None:
            message = self.worded(field_word(field or "value"))
        # Collapse newlines so the one-line contract holds even when a
        # message quotes a multi-line value.
        super().__init__(" ".join(str(message).split()))

    def worded(self, name: str) -> str:
        """The message with the field called `name` (a flag, a form label)."""
        if self.rule is None:
            return f"{self} ({self.hint.format(name=name)})" if self.hint else str(self)
        got = "" if self.value is None else f", got {_show(self.value)}"
        return " ".join(f"{name} {self.rule}{got}".split())

    @property
    def message(self) -> str:
        return str(self)


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


class BadInput(AeklError):
    """A value given on the command line or in a form is not acceptable."""


class DataError(AeklError):
    """MNIST files are missing, truncated or do not match their checksums."""


class RunError(AeklError):
    """A run folder is unknown, damaged, busy, or would be overwritten."""


class DeviceError(AeklError):
    """The requested device is not available on this machine."""


class TrainingFailed(AeklError):
    """A run that had started could not go on (disk full, out of memory)."""

    exit_code = ExitCode.FAILURE


class TrainingDiverged(TrainingFailed):
    """The loss became NaN or inf."""


def rejected_value(exc: Exception) -> str:
    """" (got VALUE)" for an option parser's type error whose message omits the value
    (Typer checks types with pydantic, whose errors() carry the input), else ""."""
    errors = getattr(exc.__cause__, "errors", None)
    try:
        value = errors()[0]["input"] if errors else None
    except (TypeError, LookupError):
        return ""
    return f" (got {value!r})" if value is not None else ""
