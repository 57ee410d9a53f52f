"""Messages that carry the training worker's news to the UI thread.

The worker never touches a widget: it wraps each engine event in a message and
posts it; handlers on the UI thread do every update. Events are frozen
dataclasses holding numpy arrays, so passing them across threads is safe.
"""

from __future__ import annotations

from textual.message import Message


class TrainEvent(Message):
    """One event from core.train.fit (Started, Progress, EpochEnd, Finished, Stopped)."""

    def __init__(self, event: object) -> None:
        super().__init__()
        self.event = event


class TrainPhase(Message):
    """What the worker is doing before the first engine event (loading data ...)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class TrainFailed(Message):
    """The worker ended with an error; `user` is True for an AeklError (a user
    can fix it, no traceback needed)."""

    def __init__(self, message: str, user: bool) -> None:
        super().__init__()
        self.message = message
        self.user = user
