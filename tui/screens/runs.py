"""The runs screen: every run folder under the runs root, as `aekl runs` lists them.

The list reads itself again every few seconds while shown (off the UI
thread), so a run's status, epoch and best loss change as it trains. Live
runs are marked (● running); opening one follows it as it trains.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from tui.messages import ContinueRun
from tui.widgets.run_list import RunList


class RunsScreen(Screen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", tooltip="back to the training screen"),
        Binding("enter", "open", "Open", show=True, tooltip="open the selected run: loss, latents, interpolation"),
        Binding("c", "resume", "Continue", tooltip="continue the selected run if it was stopped"),
        Binding("g", "reload", "Reload", tooltip="read the runs folder again"),
        Binding("space", "mark", "Mark", tooltip="mark the selected run to compare (again: unmark)"),
        Binding("s", "compare", "Side by side", tooltip="the marked runs side by side: losses and latents"),
    ]

    def __init__(self, runs_dir: Path, data_dir: Path | None) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.data_dir = data_dir

    def compose(self) -> ComposeResult:
        yield Static(f"runs in {self.runs_dir}", id="runs-title", classes="screen-title")
        yield RunList(self.runs_dir, id="run-list")
        yield Static("", id="runs-empty")
        yield Footer(compact=True, show_command_palette=False)

    def on_screen_resume(self) -> None:
        # a run may have been started or finished since the table was read
        self.action_reload()

    def on_run_list_changed(self) -> None:
        self._show_empty()

    def _show_empty(self) -> None:
        runs = self.query_one(RunList)
        empty = runs.loaded and not runs.snaps
        note = self.query_one("#runs-empty", Static)
        note.update(f"No runs under {self.runs_dir} yet: press Esc, then s to train one." if empty else "")
        note.display = empty

    def action_reload(self) -> None:
        self.query_one(RunList).reload()

    def action_open(self) -> None:
        rid = self.query_one(RunList).selected_id
        if rid is None:
            return
        from tui.screens.run_detail import RunDetailScreen

        self.app.push_screen(RunDetailScreen(rid, self.runs_dir, self.data_dir))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_resume(self) -> None:
        snap = self.query_one(RunList).selected_snapshot
        if snap is None:
            return
        if not snap.status.resumable:
            self.notify(f"Only a stopped or interrupted run can continue; {snap.id} is {snap.status}.",
                        severity="warning")
            return
        self.post_message(ContinueRun(snap.id))

    def action_mark(self) -> None:
        self.query_one(RunList).toggle_mark()

    def action_compare(self) -> None:
        marked = self.query_one(RunList).marked
        if len(marked) < 2:
            self.notify("Mark two or more runs with space first.", severity="warning")
            return
        from tui.screens.compare import CompareScreen

        self.app.push_screen(CompareScreen(marked, self.runs_dir))
