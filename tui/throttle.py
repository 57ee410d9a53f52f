"""Redraw at most once every `gap` seconds, however fast data arrives.

Training can post forty progress messages a second; rebuilding a plotext
chart for each would compete with the training thread for the GIL. On a GPU
the training thread is Python-bound (kernel launches), so every millisecond
the UI spends drawing is one it does not train: profiling put a chart redraw
at 20-30 ms. On a 2-core CPU the UI thread takes a core from the training
threads instead. Measured with `python -m tui.throughput`: charts every two
seconds and the status line every second keep the TUI at the headless speed.

Widgets call `request()` when their data changes; the first request in a
quiet period schedules one redraw after `gap` seconds, later ones until then
are folded into it.
"""

from __future__ import annotations

import time
from typing import Callable

from textual.timer import Timer
from textual.widget import Widget


class Throttle:
    def __init__(self, owner: Widget, redraw: Callable[[], None], gap: float = 1.0) -> None:
        self.owner = owner
        self.redraw = redraw
        self.gap = gap
        self._last = 0.0
        self._timer: Timer | None = None

    def request(self) -> None:
        if self._timer is not None:
            return  # a redraw is already scheduled and will pick up this change
        wait = self._last + self.gap - time.monotonic()
        if wait <= 0:
            self._fire()
        else:
            self._timer = self.owner.set_timer(wait, self._fire)

    @property
    def waiting(self) -> bool:
        """A redraw is due and waits for its gap."""
        return self._timer is not None

    def flush(self) -> None:
        """Redraw now (an epoch ended, the run finished): the last state must show."""
        if self._timer is not None:
            self._timer.stop()
        self._fire()

    def _fire(self) -> None:
        self._timer = None
        self._last = time.monotonic()
        self.redraw()
