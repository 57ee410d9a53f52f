"""The `aekl` command line: one Typer app, one module per group of commands.

This package and tui/ are the only places that import typer, rich or textual;
the rest of core stays importable without them.
"""

from core.cli.base import app

# Registering commands is a side effect of importing their modules.
from core.cli import train as _train  # noqa: E402,F401
from core.cli import runs as _runs  # noqa: E402,F401
from core.cli import kl as _kl  # noqa: E402,F401
from core.cli import sweep as _sweep  # noqa: E402,F401
from core.cli import bench as _bench  # noqa: E402,F401

__all__ = ["app", "main"]


def main() -> None:
    """The `aekl` script: the app, with a Ctrl-C that lands before any command
    runs (while the stack imports) ending as cleanly as one during a command."""
    import sys

    from core.cli.base import error_line
    from core.errors import ExitCode

    try:
        app(prog_name="aekl")
    except KeyboardInterrupt:
        error_line("interrupted")
        sys.exit(int(ExitCode.INTERRUPTED))
