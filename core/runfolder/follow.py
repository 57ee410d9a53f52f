"""Read a run folder back as the events `fit` yielded, then follow it while it trains.

    for event in follow(run):          # a live run: waits for each new epoch
        ...                            # Started, Progress*, EpochEnd ..., then a final event

Any process can do this, for any run: started here or elsewhere, live,
stopped, finished or killed. The growing files stay open and are read from
where the last look stopped (core.runfolder.reading.Tail); a look that finds
nothing new costs one stat per file and the lock check. The reader sleeps
only when a look found nothing, in short slices, so a cancelled reader stops
at once. Polling works on every file system, NFS included; no kernel
notification library is needed for a few small files looked at twice a second.

Every row goes through the run-folder schema: a damaged file ends the
events with Failed("damaged", file and reason), as `aekl runs` says. The
folder may change under us (a resume rewrites what followed its checkpoint,
someone deletes it): the reader starts over or ends with a Failed event.
"""

from __future__ import annotations

import math
import os
import time
from typing import Callable, Iterator

import numpy as np

from core.config import AEConfig
from core.errors import AeklError
from core.events import ELBO_KEYS, EpochEnd, Event, Failed, Finished, Progress, Started, Stopped
from core.runfolder.lock import holder
from core.runfolder.reading import Tail
from core.runfolder.runs import Run
from core.runfolder.schema import (MAX_METRICS_BYTES, Damaged, HistoryRecord, MetricsRow, Status, StatusRecord,
                                   parse_json, parse_metrics_row, parse_progress_row)

POLL_S = 0.5  # measured: 0.25 s cost a watched 2-core run 3% more speed; 0.5 s keeps epochs within 1 s
SLICE_S = 0.05  # how often a sleeping reader asks whether it was cancelled
MAX_PROGRESS_BYTES = 256 << 20


class _Reader:
    """One run's files, kept open, and what has been read of them."""

    def __init__(self, run: Run, config: AEConfig) -> None:
        self.run, self.config = run, config
        self.metrics = Tail(run.file("metrics.jsonl"), MAX_METRICS_BYTES)
        self.progress = Tail(run.file("progress.jsonl"), MAX_PROGRESS_BYTES)
        self.rows: list[MetricsRow] = []
        self.held: list = []  # progress rows of an epoch whose predecessor has not ended yet
        self._seen = None  # (inode, mtime, size) of the status.json last parsed
        self._record: StatusRecord | None = None

    def record(self) -> StatusRecord:
        """status.json, parsed again only when it changed (it is replaced whole)."""
        try:
            st = os.stat(self.run.file("status.json"), follow_symlinks=False)
            seen = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            seen = None
        if seen is None or seen != self._seen or self._record is None:
            self._record = self.run.record()
            self._seen = seen
        return self._record

    def events(self) -> tuple[list, bool]:
        """New Progress and EpochEnd events, and whether a rewrite made us start over."""
        progress, metrics = self.progress.read(), self.metrics.read()
        if self.progress.reset or self.metrics.reset:
            self.rows, self.held = [], []
            self.progress.restart()
            self.metrics.restart()
            return [], True
        for n, line in progress:
            row = _progress(line, f"{self.progress.path}: line {n}")
            if row is not None:
                self.held.append(row)
        out = []
        for n, line in metrics:
            where = f"{self.metrics.path}: line {n}"
            row = parse_metrics_row(parse_json(line, where), where, self.config.latent)
            if row.epoch != len(self.rows) + 1:
                raise Damaged(where, f"epoch {row.epoch} where epoch {len(self.rows) + 1} belongs")
            if row.epoch > self.config.epochs:
                raise Damaged(str(self.metrics.path), f"{row.epoch} epochs in a run of {self.config.epochs}")
            out += self._release(row.epoch)
            self.rows.append(row)
            out.append(self._epoch_end(row))
        return out + self._release(len(self.rows) + 1), False

    def _epoch_end(self, row: MetricsRow) -> EpochEnd:
        note = ""
        try:
            history = self.run.history(row.epoch, self.config.latent)
        except AeklError as exc:
            history, note = None, f"{exc.message}; epoch {row.epoch} is shown without its pictures"
        return epoch_end(row, self.config, history, note)

    def _release(self, up_to: int) -> list[Progress]:
        """Progress rows of epochs up to `up_to`, in order; later ones wait their turn."""
        out = [Progress(r.epoch, r.step, r.steps, r.loss, r.samples_per_s)
               for r in self.held if len(self.rows) < r.epoch <= up_to]
        self.held = [r for r in self.held if r.epoch > up_to]
        return out

    def close(self) -> None:
        self.metrics.close()
        self.progress.close()


def _progress(line: bytes, where: str):
    """A progress row, or None: progress is a hint between epochs, and the
    trainer appends it without fsync, so a bad line is skipped, not a verdict."""
    try:
        return parse_progress_row(parse_json(line, where), where)
    except AeklError:
        return None


def epoch_end(row: MetricsRow, config: AEConfig, history: HistoryRecord | None, note: str = "") -> EpochEnd:
    """Rebuild an EpochEnd from its metrics row and history record (None: no pictures kept)."""
    return EpochEnd(
        epoch=row.epoch, epochs=config.epochs, train_loss=_or(row.train_loss, row.train_mse),
        train_mse=row.train_mse, test_loss=_or(row.test_loss, row.test_mse), test_mse=row.test_mse,
        test_kl=row.test_kl, seconds=row.seconds, samples_per_s=row.samples_per_s, lr=_or(row.lr, config.lr),
        codes=history.codes if history else np.zeros((0, config.latent), np.float32),
        labels=history.labels if history else np.zeros(0, np.int64),
        frames=history.frames if history else np.zeros((0, 28, 28), np.float32),
        pair=history.pair if history else (0, 1),
        train_kl=row.train_kl, train_beta_kl=row.train_beta_kl, test_beta_kl=row.test_beta_kl,
        kl_per_dim=row.kl_per_dim, active_units=row.active_units, beta=row.beta, note=note,
        **{key: getattr(row, key) for key in ELBO_KEYS})


def _or(value: float | None, fallback: float) -> float:
    return fallback if value is None else value


def follow(run: Run, *, live: bool = True, poll: float = POLL_S,
           should_stop: Callable[[], bool] = lambda: False) -> Iterator[Event]:
    """Events of `run` from its first epoch. With `live`, keep reading while its
    writer is alive and end with its final event; without, stop at what is there."""
    config = _config(run, wait=2.0 if live else 0.0, should_stop=should_stop)
    if isinstance(config, Failed):
        yield config
        return
    reader = _Reader(run, config)
    try:
        yield from _loop(run, reader, live, poll, should_stop)
    finally:
        reader.close()


def _loop(run: Run, reader: _Reader, live: bool, poll: float, should_stop) -> Iterator[Event]:
    started, confirmed = False, False
    while not should_stop():
        try:
            if not os.path.lexists(run.file("config.json")):
                raise Damaged(str(run.path), "the run folder was deleted or emptied")
            record = reader.record()
            state = run.state(record)
            if live and state is Status.INTERRUPTED and not confirmed:
                # Look once more before saying so: a folder being deleted loses its
                # lock file first, and a writer that just finished may not have said so yet.
                confirmed = True
                _sleep(poll, should_stop)
                continue
            writing = state.live or (state is Status.NEW and live and holder(run.path) is not None)
            # a new run's folder is waited for while its writer starts; one nobody writes is read now
            begin = not started and (state is not Status.NEW or not writing)
            events, rewritten = reader.events() if started or begin else ([], False)
            if not writing and not rewritten:  # the verdict is next: the same one a list gives
                run.check_files(reader.config, record, len(reader.rows))
        except AeklError as exc:
            yield Failed(str(run.path), Status.DAMAGED, len(reader.rows), 0, exc.message)
            return
        if begin or rewritten:
            started = True
            yield _started(run, reader.config, record)
        if rewritten:
            continue
        yield from events
        if writing:
            if not live:
                return
            if not events:
                _sleep(poll, should_stop)
            continue
        yield _final(run, state, record, reader.rows)
        return


def _sleep(seconds: float, should_stop: Callable[[], bool]) -> None:
    end = time.monotonic() + seconds
    while not should_stop():
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(SLICE_S, left))


def _config(run: Run, wait: float, should_stop: Callable[[], bool]):
    """The run's config; a folder made this instant may not hold it yet."""
    end = time.monotonic() + wait
    while True:
        try:
            return run.config()
        except AeklError as exc:
            if time.monotonic() > end or should_stop():
                return Failed(str(run.path), Status.DAMAGED, 0, 0, exc.message)
            time.sleep(SLICE_S)


def _started(run: Run, config: AEConfig, record: StatusRecord) -> Started:
    return Started(str(run.path), config, record.device or "?", record.params or 0, record.train_size or 0,
                   record.steps_per_epoch or 0, 0, 0)


def _final(run: Run, state: Status, record: StatusRecord, rows: list[MetricsRow]) -> Event:
    step = record.step if record.epoch == len(rows) else 0  # as Snapshot counts it
    if state is Status.FINISHED:
        test = rows[-1].test_mse if rows else math.nan
        return Finished(str(run.path), record.epoch, test, record.seconds or 0.0, record.files)
    if state is Status.STOPPED:
        return Stopped(str(run.path), record.epoch, step, record.files)
    reason = record.error
    if state is Status.INTERRUPTED and not reason:
        reason = "its process ended without writing a final status (killed, out of memory, power)"
    if state is Status.NEW:
        state, reason = Status.INTERRUPTED, "it never started training"
    return Failed(str(run.path), state, record.epoch, step, reason)
