"""What a run leaves in its folder while it trains, and how a reader gets it back.

`Journal` is the engine's only way to touch a run folder: it turns each
event into files, crash-safe (atomic replaces, whole appended lines), so a
reader in another process never sees half a record. `NullJournal` does the
same calls with no folder, so the engine has no `if run` branches; a dry run
reads its checkpoint through it and writes nothing.

`follow(run)` (core.runfolder.follow) reads the same files back as the same events.
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from core.events import EpochEnd, Progress, Started
from core.runfolder.lock import acquire, release
from core.runfolder.runs import HISTORY, RunError, Run, Status, sweep_temp_files
from core.runfolder.safeio import atomic_write_bytes, open_append, open_folder, open_subfolder, remove_in

HEARTBEAT_S = 5.0  # how often a Progress event also refreshes status.json


class NullJournal:
    """A run without a folder: every write is a no-op."""

    run_dir: str | None = None
    place = "the run"  # how messages name the run: its folder, where there is one
    # Whether a stop draws the figures too. A sweep says no: a stop must be
    # quick there (figures take seconds), and the run draws them once resumed.
    figures_on_stop: bool = True

    def open(self) -> None: ...
    def close(self) -> None: ...
    def started(self, event: Started) -> None: ...
    def progress(self, event: Progress) -> None: ...
    def epoch_end(self, event: EpochEnd, checkpoint: dict) -> None: ...
    def save_checkpoint(self, checkpoint: dict) -> None: ...
    def stopped(self, epoch: int, step: int, files: dict) -> None: ...
    def finished(self, epoch: int, extra: dict) -> None: ...
    def failed(self, epoch: int, step: int, reason: str) -> None: ...
    def interrupted(self, epoch: int, step: int) -> None: ...

    def figures(self, draw) -> dict[str, str]:
        return {}

    def restore(self) -> dict:
        raise RunError("resume needs a run folder")

    def rewind(self, epoch: int, step: int) -> None: ...


class DryJournal(NullJournal):
    """A dry run of a resume: reads the checkpoint, writes nothing."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.place = str(run.path)

    def restore(self) -> dict:
        return self.run.load_checkpoint(map_location="cpu")


class Journal(NullJournal):
    def __init__(self, run: Run) -> None:
        self.run = run
        self.run_dir = self.place = str(run.path)
        self._status: dict[str, Any] = {}
        self._beat = 0.0
        self._progress = None

    # the lock spans the engine's whole life in this folder
    def open(self) -> None:
        acquire(self.run.path)
        try:
            sweep_temp_files(self.run)  # what a killed writer left, before we write anew
            dir_fd = open_folder(self.run.path)
            try:
                os.close(open_subfolder(dir_fd, HISTORY, self.run.path))  # made here, refused if a link
            finally:
                os.close(dir_fd)
        except BaseException:
            release(self.run.path)
            raise

    def close(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None
        release(self.run.path)

    def restore(self) -> dict:
        """The checkpoint to resume from. Nothing is changed until the engine
        has checked it and calls `rewind`."""
        return self.run.load_checkpoint(map_location="cpu")

    def rewind(self, epoch: int, step: int) -> None:
        """Drop what was written after the checkpoint at (epoch, step)."""
        self.run.truncate_metrics(epoch)
        dir_fd = open_folder(self.run.path)
        try:
            history = open_subfolder(dir_fd, HISTORY, self.run.path)
        finally:
            os.close(dir_fd)
        try:
            for name in os.listdir(history):
                if name.startswith("epoch-") and name.endswith(".npz") and _epoch_of(Path(name)) > epoch:
                    remove_in(history, name)
        finally:
            os.close(history)
        self._truncate_progress(epoch, step)

    def _truncate_progress(self, epoch: int, step: int) -> None:
        path = self.run.file("progress.jsonl")
        if not path.is_file() and not path.is_symlink():
            return
        # A link in its place is replaced, and what it points to is not read into the run.
        rows = [] if path.is_symlink() else read_lines(path)
        keep = [r for r in rows if _position(r) <= (epoch, step)]
        atomic_write_bytes(path, "".join(json.dumps(r) + "\n" for r in keep).encode())

    def _write_status(self, status: Status, epoch: int, step: int, **extra: Any) -> None:
        self.run.write_status(status, epoch, step, **{**self._status, **extra})
        self._beat = time.monotonic()

    def started(self, event: Started) -> None:
        self._status = {"device": event.device, "params": event.params, "train_size": event.train_size,
                        "steps_per_epoch": event.steps_per_epoch, "precision": event.precision,
                        "precision_why": event.precision_why}
        # progress.jsonl first: if it cannot be opened (a FIFO planted there, say) the
        # run's status is left as it was, not turned into a "running" nobody finishes
        self._progress = open_append(self.run.file("progress.jsonl"))
        self._write_status(Status.RUNNING, event.start_epoch, event.start_step)

    def progress(self, event: Progress) -> None:
        row = {"epoch": event.epoch, "step": event.step, "steps": event.steps, "loss": _finite(event.loss),
               "samples_per_s": round(event.samples_per_s, 1), "t": round(time.time(), 3)}
        # One write of a whole line; no fsync: a kill loses at most this line,
        # which the reader drops as partial. The OS sees it at once.
        self._progress.write((json.dumps(row) + "\n").encode())
        if time.monotonic() - self._beat > HEARTBEAT_S:
            self._write_status(Status.RUNNING, event.epoch - 1, event.step)

    def epoch_end(self, event: EpochEnd, checkpoint: dict) -> None:
        # Order matters for readers and for resume: the snapshot first, then
        # the metrics row that announces it, then the checkpoint and status.
        buf = io.BytesIO()
        np.savez(buf, codes=event.codes, labels=event.labels, frames=event.frames.astype(np.float16),
                 pair=np.asarray(event.pair))
        atomic_write_bytes(self.run.history_file(event.epoch), buf.getvalue())
        self.run.append_metrics(event.metrics_row())
        self.run.save_checkpoint(checkpoint)
        self._write_status(Status.RUNNING, event.epoch, 0)

    def save_checkpoint(self, checkpoint: dict) -> None:
        self.run.save_checkpoint(checkpoint)

    def stopped(self, epoch: int, step: int, files: dict) -> None:
        self._write_status(Status.STOPPED, epoch, step, files=files)

    def finished(self, epoch: int, extra: dict) -> None:
        self._write_status(Status.FINISHED, epoch, 0, **extra)

    def failed(self, epoch: int, step: int, reason: str) -> None:
        """Best effort: the disk that made us fail may refuse this too."""
        try:
            self._write_status(Status.FAILED, epoch, step, error=reason)
        except (RunError, OSError):
            pass

    def interrupted(self, epoch: int, step: int) -> None:
        try:
            self._write_status(Status.INTERRUPTED, epoch, step, error="aborted before a checkpoint of this point")
        except (RunError, OSError):
            pass

    def figures(self, draw) -> dict[str, str]:
        return draw(self.run)


def _finite(x: float) -> float | None:
    return x if x == x and abs(x) != float("inf") else None


def _position(row: dict) -> tuple[float, float]:
    """(epochs done, step) of a progress row; a row with damaged counters sorts last (dropped)."""
    epoch, step = row.get("epoch", 0), row.get("step", 0)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (epoch, step)):
        return (float("inf"), float("inf"))
    return (epoch - 1, step)


def _epoch_of(path: Path) -> int:
    try:
        return int(path.stem.split("-")[1])
    except (IndexError, ValueError):
        return -1


def read_lines(path: Path) -> list[dict]:
    """The progress rows of `path` that pass the schema, as written; a partial
    last line or a bad row (a kill, a hand edit) is left out. Bounded reads."""
    from core.runfolder.follow import MAX_PROGRESS_BYTES
    from core.runfolder.reading import Tail
    from core.runfolder.schema import parse_json, parse_progress_row

    tail = Tail(path, MAX_PROGRESS_BYTES)
    try:
        lines = tail.read()
    finally:
        tail.close()
    rows = []
    for n, line in lines:
        where = f"{path}: line {n}"
        try:
            row = parse_json(line, where)
            parse_progress_row(row, where)
        except RunError:
            continue
        rows.append(row)
    return rows
