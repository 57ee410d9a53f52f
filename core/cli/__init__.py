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

__all__ = ["app", "main", "run"]


def run() -> None:
    """The app itself, as the `aekl` script runs it once core.entry's guards stand."""
    app(prog_name="aekl")


def main() -> None:
    """`aekl` for callers that import this package first (an older installed
    script): the same guards as core.entry, for everything after the import."""
    from core.entry import start

    start("aekl", lambda: run)
