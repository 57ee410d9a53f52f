"""User-facing errors and process exit codes.

Anything a user can cause (bad numbers, missing files, a run that does not
exist) raises an AeklError; the CLI prints its message as one line on stderr
and exits with its code. Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2  # bad input, unknown run, missing data: the user can fix it
    INTERRUPTED = 130  # 128 + SIGINT
    TERMINATED = 143  # 128 + SIGTERM


class AeklError(Exception):
    """An error whose message is meant for the user, on one line."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str):
        # Collapse newlines so the CLI contract (one line on stderr) holds
        # even when a message quotes a multi-line value.
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return str(self)


class BadInput(AeklError):
    """A value given on the command line or in a form is not acceptable."""


class DataError(AeklError):
    """MNIST files are missing, truncated or do not match their checksums."""


class RunError(AeklError):
    """A run folder is unknown, damaged, or would be overwritten."""


class DeviceError(AeklError):
    """The requested device is not available on this machine."""


class TrainingDiverged(AeklError):
    """The loss became NaN or inf; the last good checkpoint is kept."""

    exit_code = ExitCode.FAILURE
