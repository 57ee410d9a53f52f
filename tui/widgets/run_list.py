"""The runs under a folder, as `aekl runs` lists them, kept up to date while shown.

A thread worker reads the folder (core.runfolder.runs.snapshots, with a cache
so that an unchanged run costs a few stats) every REFRESH_S seconds and posts
what it found; the table is updated on the UI thread, in place, so the
cursor stays on its run. No file is read on the UI thread.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable
from textual.worker import get_current_worker

from core.present.status import cell
from core.runfolder.schema import Snapshot
from tui.widgets.palette import status_style
from tui.workers import WorkerGuard

# At 80 columns a live run's row must show its status: kind and latent share
# one column, the best test MSE is headed short, and a long id is shortened
# in the middle (names made by a script often differ only at the end).
COLUMNS = ("id", "model", "epochs", "best MSE", "status")
OTHER_COLUMNS = 52  # cells the other columns need at most ("12 of 12 done", "interrupted", padding)
REFRESH_S = 2.0


class RunsRead(Message):
    """A fresh reading of the runs folder (newest first)."""

    def __init__(self, snaps: list[Snapshot]) -> None:
        super().__init__()
        self.snaps = snaps


class RunList(WorkerGuard, DataTable):
    # DataTable's own Enter is hidden from the footer; this one says what it does
    BINDINGS = [Binding("enter", "select_cursor", "Open", tooltip="open the selected run")]

    def __init__(self, root: Path, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.runs_root = Path(root)
        self.snaps: list[Snapshot] = []
        self.loaded = False  # the first reading has arrived
        self._wake = threading.Event()
        self.marked: list[str] = []  # run ids marked (space) to compare, in the order marked

    @property
    def runs(self) -> list[dict[str, Any]]:
        """The rows as `aekl runs --json` prints them."""
        return [s.to_json() for s in self.snaps]

    def on_mount(self) -> None:
        right = {"best MSE"}
        for col in COLUMNS:
            self.add_column(Text(col, justify="right" if col in right else "left"), key=col)
        self._read()

    def on_unmount(self) -> None:
        self._wake.set()  # the worker is cancelled with us: let it see that now

    def reload(self) -> None:
        """Read the folder again now (the worker also does every few seconds)."""
        self._wake.set()

    @work(thread=True, exclusive=True, group="runs", exit_on_error=False, description="reading the runs folder")
    def _read(self) -> None:
        from core.runfolder.runs import snapshots

        worker, cache = get_current_worker(), {}
        while not worker.is_cancelled:
            found = snapshots(self.runs_root, cache)
            found.sort(key=started, reverse=True)  # newest first (a stat each: here, not on the UI thread)
            self.post_message(RunsRead(found))
            self._wake.wait(REFRESH_S)
            self._wake.clear()

    def on_runs_read(self, message: RunsRead) -> None:
        message.stop()
        current = self.selected_id
        old = [s.id for s in self.snaps]
        self.snaps, self.loaded = message.snaps, True
        if [s.id for s in self.snaps] != old:
            self._fill()
        else:
            for s in self.snaps:
                for col, value in zip(COLUMNS, self._cells(s)):
                    self.update_cell(s.id, col, value, update_width=True)
        ids = [s.id for s in self.snaps]
        self.marked = [rid for rid in self.marked if rid in ids]
        if current in ids:
            self.move_cursor(row=ids.index(current))
        self.post_message(self.Changed())

    class Changed(Message):
        """The rows were read again."""

    def _fill(self) -> None:
        self.clear()
        for s in self.snaps:
            self.add_row(*self._cells(s), key=s.id)

    def on_resize(self) -> None:
        current = self.cursor_row
        self._fill()  # ids are shortened to the width
        if self.snaps and current is not None:
            self.move_cursor(row=min(current, len(self.snaps) - 1))

    def _id_room(self) -> int:
        return max(12, (self.size.width or 80) - OTHER_COLUMNS)

    def _cells(self, s: Snapshot) -> tuple:
        return (
            id_cell(s.id, s.id in self.marked, self._id_room()),
            f"{s.config.kind} z{s.config.latent}" if s.config else "?",
            s.epoch_text,
            Text(cell(s.best_test_mse), justify="right"),
            Text(s.status.word, style=status_style(self.app, s.status.colour)),
        )

    @property
    def selected_snapshot(self) -> Snapshot | None:
        if not self.snaps or self.cursor_row is None or not 0 <= self.cursor_row < len(self.snaps):
            return None
        return self.snaps[self.cursor_row]

    def toggle_mark(self) -> None:
        """Mark the selected run for comparing, or unmark it."""
        rid = self.selected_id
        if rid is None:
            return
        if rid in self.marked:
            self.marked.remove(rid)
        else:
            self.marked.append(rid)
        self.update_cell(rid, "id", id_cell(rid, rid in self.marked, self._id_room()))

    @property
    def selected_id(self) -> str | None:
        snap = self.selected_snapshot
        return snap.id if snap else None

    @property
    def selected(self) -> dict[str, Any] | None:
        snap = self.selected_snapshot
        return snap.to_json() if snap else None


def started(snap: Snapshot) -> float:
    """When a run began: its config.json is written once, as the run folder is made
    (a name need not sort by time: --name picks any)."""
    try:
        return (Path(snap.path) / "config.json").stat().st_mtime
    except OSError:
        return 0.0


def middle_cut(text: str, room: int) -> str:
    """`text`, or when longer than `room` cells its start and end around a "…"."""
    if len(text) <= room:
        return text
    head = (room - 1) // 2
    return text[:head] + "…" + text[len(text) - (room - 1 - head):]


def id_cell(run_id: str, marked: bool, room: int = 1_000) -> Text:
    """The id (cut to `room`), with a mark that needs no colour: ✓ before a marked run."""
    return Text(("✓ " if marked else "  ") + middle_cut(run_id, room), style="bold" if marked else "")
