"""The runs under a folder, as `aekl runs` lists them (core.runfolder.runs.list_runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from core.present.status import STATUS_COLOUR, cell, status_word

COLUMNS = ("id", "kind", "latent", "epochs", "best test MSE", "status")


class RunList(DataTable):
    def __init__(self, root: Path, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.runs_root = Path(root)
        self.runs: list[dict[str, Any]] = []
        self.marked: list[str] = []  # run ids marked (space) to compare, in the order marked

    def on_mount(self) -> None:
        right = {"latent", "epochs", "best test MSE"}
        for col in COLUMNS:
            self.add_column(Text(col, justify="right" if col in right else "left"), key=col)
        self.reload()

    def reload(self) -> None:
        """Read the folder again, keeping the cursor on the same run if it is still there."""
        from core.runfolder.runs import list_runs

        current = self.selected_id
        self.runs = sorted(list_runs(self.runs_root), key=started, reverse=True)  # newest first
        self.clear()
        for r in self.runs:
            status = r["status"]
            self.add_row(
                id_cell(r["id"], r["id"] in self.marked),
                r.get("kind", "?"),
                Text(str(r.get("latent", "?")), justify="right"),
                Text(f"{r.get('epochs', 0)}/{r.get('planned', '?')}", justify="right"),
                Text(cell(r.get("best_test_mse")), justify="right"),
                Text(status_word(status), style=STATUS_COLOUR.get(status, "")),
                key=r["id"],
            )
        ids = [r["id"] for r in self.runs]
        self.marked = [rid for rid in self.marked if rid in ids]
        if current in ids:
            self.move_cursor(row=ids.index(current))

    def toggle_mark(self) -> None:
        """Mark the selected run for comparing, or unmark it."""
        rid = self.selected_id
        if rid is None:
            return
        if rid in self.marked:
            self.marked.remove(rid)
        else:
            self.marked.append(rid)
        self.update_cell(rid, "id", id_cell(rid, rid in self.marked))

    @property
    def selected_id(self) -> str | None:
        if not self.runs or self.cursor_row is None or not 0 <= self.cursor_row < len(self.runs):
            return None
        return self.runs[self.cursor_row]["id"]

    @property
    def selected(self) -> dict[str, Any] | None:
        rid = self.selected_id
        return next((r for r in self.runs if r["id"] == rid), None)


def started(row: dict[str, Any]) -> float:
    """When a run began: its config.json is written once, as the run folder is made
    (a name need not sort by time: --name picks any)."""
    try:
        return (Path(row["path"]) / "config.json").stat().st_mtime
    except (KeyError, OSError):
        return 0.0


def id_cell(run_id: str, marked: bool) -> Text:
    """The id, with a mark in words-free but colour-free form: ✓ before a marked run."""
    return Text(("✓ " if marked else "  ") + run_id, style="bold" if marked else "")
