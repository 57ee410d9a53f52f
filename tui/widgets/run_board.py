"""The board: loss chart and latent scatter side by side over the digit strip,
for one run, live or replayed, at any of its epochs.

It keeps every epoch it is given, so the user can step back through the run's
history (`show`): the chart up to that epoch, the scatter and strip of it.
While `at` is None the board follows the newest epoch as it arrives.

A VAE's epochs carry the test KL of each latent dimension: the bars beside
the scatter show them for the epoch on screen (an autoencoder's board has no
bars), and the chart draws the KL weight beta in force.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive

from core.events import EpochEnd, Progress
from core.present.elbo_units import elbo_short
from tui.widgets.digit_strip import DigitStrip
from tui.widgets.elbo_line import ElboLine
from tui.widgets.kl_bars import KLBars
from tui.widgets.latent_scatter import LatentScatter
from tui.widgets.loss_chart import LossChart


class RunBoard(Vertical, can_focus=True):
    """Focusable so that Tab cycles from the fields back to it: with the board
    focused no field holds the keys, and ←/→ move through the epochs."""

    at: reactive[int | None] = reactive(None, init=False)  # index into `epochs`; None: the newest

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.epochs: list[EpochEnd] = []
        self.steps: list[Progress] = []

    def compose(self) -> ComposeResult:
        with Horizontal(id="charts"):
            yield LossChart(id="loss", classes="panel")
            yield LatentScatter(id="scatter", classes="panel")
            yield KLBars(id="kl-bars", classes="panel")
        yield ElboLine(id="elbo")
        yield DigitStrip(id="strip", classes="panel")

    # data in
    def clear(self) -> None:
        self.epochs, self.steps = [], []
        self.set_reactive(RunBoard.at, None)
        self.query_one(LossChart).clear()
        self.query_one(LatentScatter).clear()
        self.query_one(DigitStrip).clear()
        self.query_one(KLBars).display = False
        self.query_one(ElboLine).show(None)

    def on_mount(self) -> None:
        self.query_one(KLBars).display = False  # until an epoch with KL per dimension arrives
        self.query_one(ElboLine).show(None)

    def add_progress(self, event: Progress) -> None:
        self.steps.append(event)
        if self.at is None:
            self.query_one(LossChart).add_step(event.epoch, event.step, event.steps, event.loss)

    def add_epoch(self, event: EpochEnd) -> None:
        self.epochs.append(event)
        if self.at is None:
            self.query_one(LossChart).add_epoch(event.epoch, event.train_loss, event.test_loss, event.beta)
            self._draw_epoch(event)

    # history
    def show(self, index: int | None) -> None:
        """Show epoch `index` (0-based into `epochs`), or follow the newest with None."""
        if index is not None and index >= len(self.epochs) - 1:
            index = None
        self.at = None if index is None else max(0, index)

    def move(self, delta: int) -> None:
        if not self.epochs:
            return
        current = len(self.epochs) - 1 if self.at is None else self.at
        self.show(current + delta)

    def watch_at(self, at: int | None) -> None:
        last = len(self.epochs) - 1 if at is None else at
        chart = self.query_one(LossChart)
        chart.set_points(
            [(s.epoch - 1 + s.step / s.steps, s.loss) for s in self.steps if s.epoch <= last + 1 or at is None],
            [(e.epoch, e.train_loss, e.test_loss) for e in self.epochs[: last + 1]],
            [(e.epoch, e.beta) for e in self.epochs[: last + 1] if e.beta is not None],
        )
        if self.epochs:
            self._draw_epoch(self.epochs[last], now=True)

    def _draw_epoch(self, event: EpochEnd, now: bool = False) -> None:
        where = "" if self.at is None else f" · history {self.at + 1}/{len(self.epochs)}"
        self.query_one(ElboLine).show(event)  # live and when scrubbing: the epoch on screen
        bars = self.query_one(KLBars)
        bars.display = bool(event.kl_per_dim)
        if event.kl_per_dim:
            bars.show(event.kl_per_dim)
            bars.border_subtitle = elbo_short(event.metrics_row())  # "" for rows from before the ELBO
        if len(event.codes):
            self.query_one(LatentScatter).set_codes(event.codes, event.labels, now=now)
        if len(event.frames):
            i, j = event.pair
            self.query_one(DigitStrip).set_frames(
                event.frames, f"epoch {event.epoch}: decoded line from test #{i} to #{j}{where}", now=now)
        else:
            self.query_one(DigitStrip).clear(f"epoch {event.epoch}: no snapshot recorded{where}")

    @property
    def shown_epoch(self) -> int | None:
        """The epoch number on screen, None before the first."""
        if not self.epochs:
            return None
        return self.epochs[-1 if self.at is None else self.at].epoch
