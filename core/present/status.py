"""Words and colours that the CLI and the TUI both show, kept in one place."""

from __future__ import annotations

from numbers import Real
from typing import Any

# A run status's colour: ANSI names that read on light and dark backgrounds.
STATUS_COLOUR = {"finished": "green", "stopped": "yellow", "running": "cyan", "failed": "red",
                 "interrupted": "magenta", "damaged": "red", "new": "white"}


def status_word(status: str) -> str:
    """A live run is marked, so it stands out in a long list."""
    return f"● {status}" if status == "running" else status


def cell(value: Any, spec: str = ".4f") -> str:
    """A number for a table cell; '-' where there is none."""
    # Anything but a number (a hand-edited row may hold text) is shown as missing, not a crash.
    return format(value, spec) if isinstance(value, Real) and not isinstance(value, bool) else "-"
