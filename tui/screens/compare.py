"""Runs side by side: the test loss of every marked run on one chart, and
their latent scatters next to each other at the same epoch (←/→ move it).

Each title says what differs between runs of a sweep: latent size, kind, β
and seed. This is where "compare latent sizes" of the exercise lives. The
runs are read once, as they are now (a live run is not followed here).
"""

from __future__ import annotations

import math
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import get_current_worker
from textual_plotext import PlotextPlot

from core.errors import AeklError
from tui.widgets.latent_scatter import LatentScatter
from tui.widgets.palette import digit_colours, rich_colour
from tui.widgets.run_list import middle_cut

LINE_MARKERS = ("•", "+", "x", "o", "*", "#")  # one per run, so curves differ without colour
ID_ROOM = 16  # cells of a run id in a title: three scatters share 80 columns


class RunRead(Message):
    def __init__(self, run_id: str, title: str, epochs: list, error: str = "") -> None:
        super().__init__()
        self.run_id, self.title, self.epochs, self.error = run_id, title, epochs, error


def run_title(run_id: str, config) -> str:
    """The run's id (shortened in the middle) and what tells runs of a sweep apart."""
    beta = f" β{config.beta:g}" if config.kind == "vae" else ""
    return f"{middle_cut(run_id, ID_ROOM)}: z{config.latent} {config.kind}{beta} seed {config.seed}"


class CompareScreen(Screen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", tooltip="back to the runs screen"),
        Binding("left", "epoch(-1)", "Epoch -", tooltip="every scatter one epoch back"),
        Binding("right", "epoch(1)", "Epoch +", tooltip="every scatter one epoch on"),
    ]

    def __init__(self, run_ids: list[str], runs_dir: Path) -> None:
        super().__init__()
        self.run_ids = list(run_ids)
        self.runs_dir = Path(runs_dir)
        self.read: dict[str, RunRead] = {}  # run id -> what was read
        self.epoch: int | None = None  # the epoch the scatters show; None until read

    def compose(self) -> ComposeResult:
        yield Static(f"{len(self.run_ids)} runs side by side", id="compare-title", classes="screen-title")
        # the loss chart's legend over it, not inside: plotext's would cover the first epochs' points
        yield Static("", id="compare-legend", classes="panel-title")
        yield PlotextPlot(id="compare-loss")
        with Horizontal(id="compare-scatters"):
            for n, rid in enumerate(self.run_ids):
                yield LatentScatter(id=f"compare-{n}", classes="panel")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self._read(self.run_ids)
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._draw_all())

    def _draw_all(self) -> None:
        if len(self.read) == len(self.run_ids):
            self._draw_losses()
            self._draw_scatters()

    @work(thread=True, exclusive=True, group="compare", exit_on_error=False, description="reading the runs")
    def _read(self, run_ids: list[str]) -> None:
        from core.events import EpochEnd
        from core.runfolder.follow import follow
        from core.runfolder.runs import open_run

        worker = get_current_worker()
        for run_id in run_ids:
            if worker.is_cancelled:
                return
            try:
                run = open_run(run_id, self.runs_dir)
                title = run_title(run_id, run.config())
                epochs = [e for e in follow(run, live=False, should_stop=lambda: worker.is_cancelled)
                          if isinstance(e, EpochEnd)]
                self.post_message(RunRead(run_id, title, epochs))
            except AeklError as exc:
                self.post_message(RunRead(run_id, run_id, [], exc.message))

    def on_run_read(self, message: RunRead) -> None:
        self.read[message.run_id] = message
        if len(self.read) < len(self.run_ids):
            return
        self.epoch = self.common_epochs or None  # the newest epoch every run has
        self._draw_all()

    @property
    def common_epochs(self) -> int:
        lasts = [r.epochs[-1].epoch for r in self.read.values() if r.epochs]
        return min(lasts) if lasts else 0

    def action_epoch(self, delta: int) -> None:
        if self.epoch is None:
            return
        self.epoch = max(1, min(self.common_epochs, self.epoch + delta))
        self._draw_scatters()

    def _draw_losses(self) -> None:
        plot = self.query_one("#compare-loss", PlotextPlot)
        plt = plot.plt
        plt.clear_figure()
        colours, legend = digit_colours(self.app), Text()
        for n, rid in enumerate(self.run_ids):
            r = self.read[rid]
            marker, colour = LINE_MARKERS[n % len(LINE_MARKERS)], colours[n % 10]
            legend.append(("  " if n else "") + f"{marker}{r.title}", style=rich_colour(colour))
            points = [(e.epoch, e.test_loss) for e in r.epochs if e.test_loss > 0 and math.isfinite(e.test_loss)]
            if not points:
                continue
            xs, ys = zip(*points)
            plt.plot(list(xs), [math.log10(y) for y in ys], color=colour, marker=marker)
        self.query_one("#compare-legend", Static).update(legend)
        plt.title("test loss (log10) per epoch")
        plt.xlabel("epoch")
        plot.refresh()

    def _draw_scatters(self) -> None:
        for n, rid in enumerate(self.run_ids):
            r, scatter = self.read[rid], self.query_one(f"#compare-{n}", LatentScatter)
            scatter.title = r.title
            shown = next((e for e in r.epochs if e.epoch == self.epoch and len(e.codes)), None)
            if shown is None:
                scatter.clear()
                scatter.caption = r.error or f"no codes at epoch {self.epoch}"
                scatter.request(now=True)
            else:
                scatter.set_codes(shown.codes, shown.labels, now=True)
        where = "" if self.epoch is None else f" at epoch {self.epoch} of {self.common_epochs} (←/→)"
        self.query_one("#compare-title", Static).update(f"{len(self.run_ids)} runs side by side{where}")
