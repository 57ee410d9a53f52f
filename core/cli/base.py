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
from rich.console import Console
from typer.core import TyperGroup

# Typer >= 0.22 vendors click as typer._click; its UsageError is not
# re-exported, and it is what every option-parsing failure raises.
from typer._click.exceptions import NoArgsIsHelpError, UsageError

from core import __version__
from core.errors import AeklError, ExitCode

DEBUG = bool(os.environ.get("AEKL_DEBUG"))

# Chatter (tables, progress, paths) goes to stderr when --json owns stdout;
# `out` is for results a person reads, `err` for progress and messages.
out = Console()
err = Console(stderr=True)


def error_line(message: str) -> None:
    """Print one plain line on stderr. Plain print, not rich: rich would wrap
    a long message across lines and scripts grep for a single line."""
    error_line_for("aekl", message)


def error_line_for(prog: str, message: str) -> None:
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)


class AeklGroup(TyperGroup):
    """Turns user errors from any subcommand into one stderr line + exit code.

    Subcommand options are parsed inside Group.invoke, so catching click's
    UsageError here also flattens Typer's boxed usage errors to one line.
    """

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AeklError as exc:
            if DEBUG:
                raise
            error_line(cli_message(exc))
            ctx.exit(int(exc.exit_code))
        except NoArgsIsHelpError:
            raise
        except UsageError as exc:
            if DEBUG:
                raise
            where = f"{exc.ctx.command_path}: " if exc.ctx else ""
            error_line(where + exc.format_message() + rejected_value(exc))
            ctx.exit(int(ExitCode.USAGE))
        except KeyboardInterrupt:
            error_line("interrupted")
            ctx.exit(int(ExitCode.INTERRUPTED))


# Fields whose flag is not simply "--" + the field name with dashes.
FLAGS = {"interp_from": "--from-index", "interp_to": "--to-index", "interp_steps": "--steps", "runs_dir": "--out"}


def flag_for(field: str) -> str:
    return FLAGS.get(field, "--" + field.replace("_", "-"))


def cli_message(exc: AeklError) -> str:
    """The CLI's wording of an error: a field is called by its flag."""
    return exc.worded(flag_for(exc.field)) if exc.field else exc.message


def rejected_value(exc: Exception) -> str:
    """Typer checks types with pydantic, whose message omits the value; name it."""
    errors = getattr(exc.__cause__, "errors", None)
    try:
        value = errors()[0]["input"] if errors else None
    except (TypeError, LookupError):
        return ""
    return f" (got {value!r})" if value is not None else ""


app = typer.Typer(
    name="aekl",
    cls=AeklGroup,
    help="KL divergence between Gaussians, and autoencoders on MNIST.",
    no_args_is_help=True,
    add_completion=False,
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
