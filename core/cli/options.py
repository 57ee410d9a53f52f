"""Typer options made from the option table in core/config.py.

A command takes table options through `takes`, which gives the command
function a generated signature (Typer reads parameters from
`inspect.signature`), so no option is restated here. The app builds its
flags the same way from the same table (it may not import this package).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import typer

from core.options import Param, takes as table_takes

OUTPUT = "Output"


def option(default, help: str, panel: str, *names: str):
    return typer.Option(default, *names, help=help, rich_help_panel=panel)


def takes(params: list[Param]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: the command also takes `params`, passed to it by name in **options."""
    return table_takes(params, typer.Option)


def given(ctx: typer.Context, values: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The options among `names` typed on the command line (not left at their defaults)."""
    return {n: values[n] for n in names if n in values and ctx.get_parameter_source(n).name == "COMMANDLINE"}
