"""The `aekl` command line: one Typer app, one module per group of commands.

This package and tui/ are the only places that import typer, rich or textual;
the rest of core stays importable without them.
"""

from core.cli.base import app

# Registering commands is a side effect of importing their modules.

__all__ = ["app"]
