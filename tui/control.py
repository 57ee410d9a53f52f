"""What the stop key does on any screen: ask the run's trainer to stop, wherever it was started."""

from __future__ import annotations

from pathlib import Path

from textual.widget import Widget

from core.errors import AeklError


def stop_run(widget: Widget, run_dir: str) -> bool:
    """SIGTERM to the aekl process training `run_dir`; a notification and False if there is none."""
    from core.runfolder.control import request_stop
    from core.runfolder.runs import Run

    try:
        request_stop(Run(Path(run_dir)))
    except AeklError as exc:
        widget.notify(exc.message, title="Cannot stop", severity="warning")
        return False
    return True
