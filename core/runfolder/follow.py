"""Read a run folder back as the events `fit` yielded, then follow it while it trains.

    for event in follow(run):          # a live run: waits for each new epoch
        ...                            # Started, Progress*, EpochEnd ..., then a final event

Any process can do this, for any run: started here or elsewhere, live,
stopped, finished or killed. Polling a few small files is enough (a new epoch
is seen within `poll` seconds) and works on every file system, NFS included.
The folder may change under us (a resume rewrites what followed its
checkpoint, someone deletes it): the reader never crashes on that; it starts
over or ends with a Failed event that says what happened.
"""

from __future__ import annotations

import time
from typing import Callable, Iterator

from core.errors import AeklError
from core.events import EpochEnd, Event, Failed, Finished, Progress, Started, Stopped, epoch_from_row
from core.runfolder.journal import read_lines_from, read_snapshot
from core.runfolder.lock import holder
from core.runfolder.runs import Run, Status

POLL_S = 0.5  # measured: 0.25 s cost a watched 2-core run 3% more speed; 0.5 s keeps epochs within 1 s


class _Cursor:
    """How far into each growing file the reader has got."""

    def __init__(self) -> None:
        self.metrics = 0  # bytes
        self.progress = 0
        self.epochs = 0  # EpochEnd events yielded
        self.held: list[dict] = []  # progress rows of an epoch whose predecessor has not ended yet


def follow(run: Run, *, live: bool = True, poll: float = POLL_S,
           should_stop: Callable[[], bool] = lambda: False) -> Iterator[Event]:
    """Events of `run` from its first epoch. With `live`, keep reading while its
    writer is alive and end with its final event; without, stop at what is there."""
    config = _config(run, wait=2.0 if live else 0.0)
    if isinstance(config, Failed):
        yield config
        return
    started, confirmed = False, False
    cursor = _Cursor()
    while not should_stop():
        try:
            status = run.status()
            state = run.state(status)
        except AeklError as exc:
            yield _gone(run, Status.DAMAGED, exc.message)
            return
        if not run.file("config.json").is_file():
            yield _gone(run, Status.DAMAGED, "the run folder was deleted or emptied")
            return
        if live and state is Status.INTERRUPTED and not confirmed:
            # Look once more before saying so: a folder being deleted loses its
            # lock file first, and a writer that just finished may not have said so yet.
            confirmed = True
            time.sleep(poll)
            continue
        if not started and (state is not Status.NEW or not live):
            started = True
            yield _started(run, config, status)
        if started:
            if _shrunk(run, cursor):  # a resume rewrote the tail: read it all again
                cursor = _Cursor()
                yield _started(run, config, status)
            yield from _new_events(run, config, cursor)
        if state is Status.RUNNING or (state is Status.NEW and live and holder(run.path) is not None):
            if not live:
                return
            time.sleep(poll)
            continue
        yield from _new_events(run, config, cursor)  # what was written just before the end
        yield _final(run, state, status)
        return


def _config(run: Run, wait: float):
    """The run's config; a folder made this instant may not hold it yet."""
    end = time.monotonic() + wait
    while True:
        try:
            return run.config()
        except AeklError as exc:
            if time.monotonic() > end:
                return _gone(run, Status.DAMAGED, exc.message)
            time.sleep(0.05)


def _started(run: Run, config, status: dict) -> Started:
    return Started(str(run.path), config, str(status.get("device", "?")), _int(status.get("params")),
                   _int(status.get("train_size")), _int(status.get("steps_per_epoch")), 0, 0)


def _int(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _shrunk(run: Run, cursor: _Cursor) -> bool:
    for name, offset in (("metrics.jsonl", cursor.metrics), ("progress.jsonl", cursor.progress)):
        try:
            if run.file(name).stat().st_size < offset:
                return True
        except OSError:
            if offset:
                return True
    return False


def _new_events(run: Run, config, cursor: _Cursor) -> Iterator[Progress | EpochEnd]:
    rows, cursor.progress = read_lines_from(run.file("progress.jsonl"), cursor.progress)
    cursor.held.extend(r for r in rows if _progress_ok(r))
    metrics, cursor.metrics = read_lines_from(run.file("metrics.jsonl"), cursor.metrics)
    for row in metrics:
        epoch = row.get("epoch")
        if not isinstance(epoch, int) or epoch != cursor.epochs + 1:
            continue
        yield from _release(cursor, up_to=epoch)
        try:
            end = epoch_from_row(row, config.epochs, read_snapshot(run, epoch))
        except (TypeError, ValueError):
            continue  # a row that lacks a number: skip it rather than stop reading
        cursor.epochs = epoch
        yield end
    yield from _release(cursor, up_to=cursor.epochs + 1)


def _release(cursor: _Cursor, up_to: int) -> Iterator[Progress]:
    """Progress rows of epochs up to `up_to`, in order; later ones wait their turn."""
    keep = []
    for r in cursor.held:
        if r["epoch"] <= up_to:
            if r["epoch"] > cursor.epochs:
                yield Progress(r["epoch"], r["step"], r["steps"], float(r["loss"]), float(r.get("samples_per_s", 0)))
        else:
            keep.append(r)
    cursor.held = keep


def _progress_ok(r: dict) -> bool:
    return all(isinstance(r.get(k), int) for k in ("epoch", "step", "steps")) and isinstance(r.get("loss"), (int, float))


def _final(run: Run, state: Status, status: dict) -> Event:
    epoch, step = _int(status.get("epoch")), _int(status.get("step"))
    files = status.get("files") if isinstance(status.get("files"), dict) else {}
    if state is Status.FINISHED:
        metrics, _ = read_lines_from(run.file("metrics.jsonl"), 0)
        test = metrics[-1].get("test_mse", float("nan")) if metrics else float("nan")
        seconds = status.get("seconds")
        return Finished(str(run.path), epoch, test, seconds if isinstance(seconds, (int, float)) else 0.0, files)
    if state is Status.STOPPED:
        return Stopped(str(run.path), epoch, step, files)
    reason = status.get("error") if isinstance(status.get("error"), str) else ""
    if state is Status.INTERRUPTED and not reason:
        reason = "its process ended without writing a final status (killed, out of memory, power)"
    if state is Status.NEW:
        reason = "it never started training"
    return Failed(str(run.path), str(state if state is not Status.NEW else Status.INTERRUPTED), epoch, step, reason)


def _gone(run: Run, status: Status, reason: str) -> Failed:
    return Failed(str(run.path), str(status), 0, 0, reason)
