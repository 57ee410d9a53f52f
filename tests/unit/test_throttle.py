"""tui.throttle: many requests in a quiet period fold into one redraw; flush draws now.

The owner here only records the timers asked of it (Textual's set_timer), so
the test decides when a timer fires instead of waiting for it."""

from __future__ import annotations

import time

from tui.throttle import Throttle


class Timer:
    def __init__(self, delay: float, callback) -> None:
        self.delay, self.callback, self.stopped = delay, callback, False

    def stop(self) -> None:
        self.stopped = True


class Owner:
    def __init__(self) -> None:
        self.timers: list[Timer] = []

    def set_timer(self, delay: float, callback) -> Timer:
        self.timers.append(Timer(delay, callback))
        return self.timers[-1]


def make(gap: float = 60.0):
    owner, drawn = Owner(), []
    return owner, drawn, Throttle(owner, lambda: drawn.append(time.monotonic()), gap=gap)


def test_the_first_request_draws_at_once_and_the_next_ones_fold_into_one_timer():
    owner, drawn, throttle = make()
    throttle.request()
    assert len(drawn) == 1 and owner.timers == []
    for _ in range(50):
        throttle.request()
    assert len(drawn) == 1 and len(owner.timers) == 1  # one redraw scheduled for all fifty
    assert 0 < owner.timers[0].delay <= 60.0
    owner.timers[0].callback()
    assert len(drawn) == 2
    throttle.request()  # right after a redraw: scheduled again, not drawn
    assert len(drawn) == 2 and len(owner.timers) == 2


def test_flush_draws_now_and_cancels_the_pending_timer():
    owner, drawn, throttle = make()
    throttle.request()
    throttle.request()
    pending = owner.timers[0]
    throttle.flush()
    assert len(drawn) == 2 and pending.stopped
    throttle.request()  # the flush counts as a redraw: the gap starts again
    assert len(drawn) == 2 and len(owner.timers) == 2


def test_after_a_quiet_gap_a_request_draws_at_once():
    owner, drawn, throttle = make(gap=0.0)
    for _ in range(3):
        throttle.request()
    assert len(drawn) == 3 and owner.timers == []
