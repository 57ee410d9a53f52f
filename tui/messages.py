"""Messages that carry a run's events from a watcher thread to the UI thread.

One message type per engine event, so screens handle each in its own
`on_run_*` method. Every message names the run folder it comes from: a screen
that has moved on to another run ignores what is still in flight for the old one.
"""

from __future__ import annotations

from textual.message import Message

from core.events import EpochEnd, Failed, Finished, Progress, Started, Stopped


class RunMessage(Message):
    def __init__(self, run_dir: str, event) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.event = event


class RunStarted(RunMessage):
    """The run's Started event (again, if a resume rewrote its history)."""


class RunProgress(RunMessage):
    """A Progress event: the mean training loss of the last few steps."""


class RunEpoch(RunMessage):
    """An EpochEnd event: losses, scatter codes and interpolation frames of one epoch."""


class RunEnded(RunMessage):
    """The final event: Finished, Stopped or Failed (killed, damaged, deleted)."""


MESSAGE_FOR = {Started: RunStarted, Progress: RunProgress, EpochEnd: RunEpoch,
               Finished: RunEnded, Stopped: RunEnded, Failed: RunEnded}


def message_for(run_dir: str, event) -> RunMessage:
    return MESSAGE_FOR[type(event)](run_dir, event)


class LaunchPhase(Message):
    """What a run started from the app is doing before its folder exists."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class LaunchFailed(Message):
    """The training process ended before its run folder was ready, or could not start."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class ContinueRun(Message):
    """A screen asks the app to continue (resume) a run in a training process."""

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
