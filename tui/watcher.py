"""The body of a watcher thread: follow one run folder, post one message per event.

Kept free of widgets: `post` is a widget's thread-safe post_message and
`cancelled` the worker's is_cancelled, so this reads (and tests) like plain code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from core.runfolder.follow import follow
from core.runfolder.runs import Run
from tui.messages import message_for


def watch(run_dir: str | Path, post: Callable[[object], object], cancelled: Callable[[], bool]) -> None:
    run_dir = str(run_dir)
    for event in follow(Run(Path(run_dir)), should_stop=cancelled):
        if cancelled():
            return
        post(message_for(run_dir, event))
