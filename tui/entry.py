"""What the `aekl-tui` script runs: the guards of core.entry (Ctrl-C while
importing, low memory), then the app with an exit code that tells the truth.

Textual prints a crash's traceback after the screen is restored and leaves
the exit code to its caller. Here the traceback goes to a log file, stderr
gets one line naming it, and the exit code is 1. An app needs a terminal to
read keys from: a closed stdin is one line and exit 2.
"""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path
from typing import Sequence

PROG = "aekl-tui"


def main(argv: Sequence[str] | None = None) -> None:
    from core.entry import start

    def load():
        import tui.app  # noqa: F401 - the heavy import, under the guards

        return lambda: run_app(argv)

    start(PROG, load)


def _stdin_closed() -> bool:
    stream = sys.stdin
    if stream is None or getattr(stream, "closed", True):
        return True
    try:
        os.fstat(stream.fileno())
    except (OSError, ValueError):
        return True
    return False


def crash_log_folder() -> Path:
    cache = os.environ.get("AEKL_CACHE_DIR")
    return Path(cache) if cache else Path.home() / ".cache" / "aekl"


def _write_log(text: str) -> Path | None:
    """The crash report in a new file of its own; None if nowhere would take it."""
    import tempfile

    for folder in (crash_log_folder(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=folder, prefix=f"aekl-tui-crash-{time.strftime('%Y%m%d-%H%M%S')}-",
                                        suffix=".log")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            return Path(name)
        except OSError:
            continue
    return None


def run_app(argv: Sequence[str] | None = None) -> None:
    from rich.console import Console

    from core.entry import line
    from tui.app import make_app, parse_options

    options = parse_options(argv)
    if not isinstance(options, dict):  # --help printed its text
        return
    if _stdin_closed():
        line(PROG, "standard input is closed; the app reads keys from a terminal (run it in one)")
        sys.exit(2)
    app = make_app(**options)
    report = io.StringIO()
    app.error_console = Console(file=report, width=120, markup=False, highlight=False, color_system=None)
    note = app.run()
    code = app.return_code or 0
    text = report.getvalue()
    if code and text.strip():  # Textual's crash report: to a log, one line here
        log = _write_log(text)
        where = f"; details in {log}" if log else ""
        first = _last_line(text)
        line(PROG, f"the app stopped on an internal error{': ' + first if first else ''}{where}")
        sys.exit(1)
    if code:
        sys.exit(code)
    if note:  # a run left training: say how to find it again
        print(note)


def _last_line(text: str) -> str:
    """The exception's own line of a traceback (its last non-empty line), kept short."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not set(ln.strip()) <= set("─│╭╮╰╯ ")]
    return lines[-1][:160] if lines else ""


if __name__ == "__main__":
    main()
