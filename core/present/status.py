"""Words that the CLI and the TUI both show, kept in one place.

A run's status word and colour come from core.runfolder.schema.Status
(`word`, `colour`); its epoch count from Snapshot.epoch_text.
"""

from __future__ import annotations

from numbers import Real
from typing import Any


def cell(value: Any, spec: str = ".4f") -> str:
    """A number for a table cell; '-' where there is none."""
    # Anything but a number (a hand-edited row may hold text) is shown as missing, not a crash.
    return format(value, spec) if isinstance(value, Real) and not isinstance(value, bool) else "-"


def duration(seconds: float) -> str:
    """12s, 3m 05s, 1h 02m: as long as it needs to be, no longer."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def live_words(status: Any, done: int, planned: int | None, step: int = 0, progress: Any = None,
               batch_size: int | None = None) -> dict[str, str]:
    """The words of a run's header: epoch k of N (as every face says it), and
    while it trains the step, images/s and time left.

    `status` is the run's Status; `step` the steps done after `done` epochs
    (for a run that ended part-way); `progress` the last Progress event of a
    live run, if any. The time left counts training steps at the last
    measured speed (evaluation adds a little per epoch)."""
    from core.runfolder.schema import epoch_in_progress, epoch_text

    words = {"epoch": epoch_text(done, epoch_in_progress(status, done, step, planned), planned)}
    if not status.live or progress is None or progress.epoch != done + 1:
        return words
    words["step"] = f"step {progress.step}/{progress.steps}"
    rate = progress.samples_per_s
    if rate > 0 and rate == rate:
        words["rate"] = f"{rate:,.0f} img/s"
        if planned and batch_size:
            steps_left = (planned - progress.epoch) * progress.steps + progress.steps - progress.step
            words["left"] = f"{duration(steps_left * batch_size / rate)} left"
    return words


def fit_line(parts: list[tuple[str, str]], width: int, drop: tuple[str, ...]) -> str:
    """Join (key, text) parts with two spaces, dropping keys in `drop` order until it fits."""
    parts = [p for p in parts if p[1]]
    for key in drop:
        if len("  ".join(t for _, t in parts)) <= width:
            break
        parts = [p for p in parts if p[0] != key]
    return "  ".join(t for _, t in parts)
