"""The Typer app object and what every command shares.

Command modules import `app` from here and register themselves; torch and
the rest of the heavy stack are imported inside command bodies so that
`aekl --help` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from core import __version__
from core.cli.ascii import HANDLER, PlainConsole
from core.config import cli_message, flag_for  # noqa: F401  (commands word errors by flag through these)
from core.errors import AeklError, ExitCode, rejected_value

DEBUG = bool(os.environ.get("AEKL_DEBUG"))

# Chatter (tables, progress, paths) goes to stderr when --json owns stdout;
# `out` is for results a person reads, `err` for progress and messages.
out = PlainConsole()
err = PlainConsole(stderr=True)


def error_line(message: str) -> None:
    """Print one plain line on stderr. Plain print, not rich: rich would wrap
    a long message across lines and scripts grep for a single line."""
    error_line_for("aekl", message)


def error_line_for(prog: str, message: str) -> None:
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)


def safe_streams() -> None:
    """Let stdout and stderr write what their encoding cannot show.

    Under PYTHONIOENCODING=ascii or a latin-1 locale, printing σ or ‖ would
    raise UnicodeEncodeError mid-output; such characters are spelled out
    (core.cli.ascii).
    """
    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None) or "utf-8"
        try:
            "‖σ".encode(encoding)
        except UnicodeEncodeError:
            if hasattr(stream, "reconfigure"):
                stream.reconfigure(errors=HANDLER)
        except LookupError:
            pass


class WatchedStream:
    """stdout, remembering the first write or flush that failed.

    An OSError raised by a command is an output failure only if it came from
    writing stdout: this is how the CLI tells a full disk under `> /dev/full`
    from a bug that happens to raise OSError.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.failed: Exception | None = None

    def _watch(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self._stream, method)(*args)
        except (OSError, ValueError) as exc:
            self.failed = self.failed or exc
            raise

    def write(self, text: str) -> int:
        return self._watch("write", text)

    def flush(self) -> None:
        return self._watch("flush")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _flush_error() -> Exception | None:
    """Why stdout could not take what was written to it (a closed pipe, a full disk), if so."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError) as exc:
        return exc
    return getattr(sys.stdout, "failed", None)


def _give_up_on_stdout(exc: BaseException) -> None:
    """One line on stderr and exit 1; stdout is pointed at /dev/null first so
    that the interpreter's own flush at exit does not fail a second time."""
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    error_line(f"cannot write the output: {reason}")
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    sys.exit(int(ExitCode.FAILURE))


class AeklGroup(TyperGroup):
    """Turns user errors from any subcommand into one stderr line + exit code.

    Subcommand options are parsed inside Group.invoke, so catching Typer's
    parsing errors here (public typer.TyperException, the base of its usage
    errors) also flattens Typer's boxed usage errors to one line.
    """

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """The entry point of `aekl`: output that cannot fail silently.

        With stdout closed (`aekl runs >&-`) Python sets sys.stdout to None
        and every print vanishes; a full or closed pipe raises on flush. Both
        are one line on stderr and exit 1 (see "Note on SIGPIPE" in the
        Python docs for the /dev/null trick).
        """
        if sys.stdout is None:
            error_line("standard output is closed; nothing could be printed")
            sys.exit(int(ExitCode.FAILURE))
        safe_streams()
        real, sys.stdout = sys.stdout, WatchedStream(sys.stdout)
        try:
            code = super().main(*args, **kwargs)
        except SystemExit as exit_:
            failed = _flush_error() if exit_.code in (None, 0) else None
            if failed is None:
                raise
            _give_up_on_stdout(failed)
        else:
            failed = _flush_error()
            if failed is not None:
                _give_up_on_stdout(failed)
            return code
        finally:
            sys.stdout = real

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OSError as exc:
            # A write to stdout failed (click would swallow a broken pipe
            # silently); any other OSError is a bug and keeps its traceback.
            if not isinstance(exc, BrokenPipeError) and getattr(sys.stdout, "failed", None) is not exc:
                raise
            _give_up_on_stdout(exc)
        except AeklError as exc:
            if DEBUG:
                raise
            error_line(cli_message(exc))
            ctx.exit(int(exc.exit_code))
        except typer.TyperException as exc:
            # Typer's parsing errors (a bad flag or value) derive from its public
            # TyperException; a subcommand's options are parsed here, in invoke.
            if DEBUG:
                raise
            where = f"{exc.ctx.command_path}: " if getattr(exc, "ctx", None) else ""
            error_line(where + exc.format_message() + rejected_value(exc))
            ctx.exit(int(getattr(exc, "exit_code", ExitCode.USAGE) or ExitCode.USAGE))
        except KeyboardInterrupt:
            error_line("interrupted")
            ctx.exit(int(ExitCode.INTERRUPTED))


app = typer.Typer(
    name="aekl",
    cls=AeklGroup,
    help="KL divergence between Gaussians, and autoencoders on MNIST.",
    no_args_is_help=True,
    pretty_exceptions_enable=DEBUG,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        print(f"aekl {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """KL divergence between Gaussians, and autoencoders on MNIST."""


def print_json(obj: Any) -> None:
    """Write one JSON document to stdout (nothing else goes there with --json)."""
    sys.stdout.write(json.dumps(obj, allow_nan=False) + "\n")
    sys.stdout.flush()


def print_json_line(obj: Any) -> None:
    """One JSON object per line, for streams of events."""
    sys.stdout.write(json.dumps(obj, allow_nan=False, separators=(",", ":")) + "\n")
    sys.stdout.flush()
