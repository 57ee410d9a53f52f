"""The body of a watcher thread: follow one run folder, post one message per event.

Kept free of widgets: `post` is a widget's thread-safe post_message and
`cancelled` the worker's is_cancelled, so this reads (and tests) like plain code.

A run asked for by name may not exist yet (`aekl train --name x &` then
`aekl-tui --attach x`: the trainer makes its folder after importing torch and
loading MNIST). With `wait`, the watcher says it is waiting and looks again
until the folder appears or `wait` seconds have passed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

from textual.message import Message

from core.present.status import duration
from core.runfolder.follow import follow
from core.runfolder.runs import Run
from tui.messages import message_for

ATTACH_WAIT_S = 120.0  # a trainer on a loaded node may take a minute to make its folder
LOOK_S = 0.2


class RunWaiting(Message):
    """The run's folder does not exist yet; the watcher is waiting for it."""

    def __init__(self, run_dir: str, text: str) -> None:
        super().__init__()
        self.run_dir, self.text = run_dir, text


class RunMissing(Message):
    """The run's folder did not appear in time."""

    def __init__(self, run_dir: str, text: str) -> None:
        super().__init__()
        self.run_dir, self.text = run_dir, text


def watch(run_dir: str | Path, post: Callable[[object], object], cancelled: Callable[[], bool],
          wait: float = 0.0) -> None:
    run_dir = str(run_dir)
    run = Run(Path(run_dir))
    if wait and not _appeared(run, post, cancelled, wait):
        return
    for event in follow(run, should_stop=cancelled):
        if cancelled():
            return
        post(message_for(run_dir, event))


def _appeared(run: Run, post, cancelled, wait: float) -> bool:
    config = run.file("config.json")
    if os.path.lexists(config):
        return True
    post(RunWaiting(str(run.path), f"waiting for run {run.id} to be created under {run.path.parent} "
                                   f"(up to {duration(wait)})"))
    end = time.monotonic() + wait
    while not os.path.lexists(config):
        if cancelled():
            return False
        if time.monotonic() > end:
            post(RunMissing(str(run.path), f"no run named {run.id!r} appeared under {run.path.parent} "
                                           f"within {duration(wait)}"))
            return False
        time.sleep(LOOK_S)
    return True
