"""Loss chart: training loss every few steps, train and test loss per epoch.

x is measured in epochs (step k of an n-step epoch e sits at e - 1 + k/n), so
the per-epoch points land at the ends of their epochs. y is logarithmic
because a loss falls by orders of magnitude in the first epoch and slowly
after; on a linear axis the late epochs would be a flat line.

The log is taken here, with tick labels in loss units, rather than with
plotext's yscale("log"): plotext applies the log to its stored data on every
build, and a widget is rebuilt on every resize, so the second build would
take the log of a log.

For a VAE the KL weight beta in force at each epoch's end is drawn too, on a
linear right-hand axis of its own (beta lives on 0..1ish, the loss does not):
a warm-up or a cyclical schedule then shows beside the loss it shapes.
"""

from __future__ import annotations

import math

from rich.text import Text

from tui.widgets.palette import BETA_COLOUR, STEP_COLOUR, TEST_COLOUR, TRAIN_COLOUR, rich_colour, shade
from tui.widgets.plot_panel import PlotPanel


class LossChart(PlotPanel):
    """Train loss within epochs, train and test loss per epoch, on a log axis."""

    def __init__(self, title: str = "loss", live: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.title = title
        self.live = live  # False for a saved run's history: epochs only, no step curve
        self.steps: list[tuple[float, float]] = []  # (x in epochs, mean loss of the window)
        self.epochs: list[tuple[int, float, float]] = []  # (epoch, train loss, test loss)
        self.betas: list[tuple[int, float]] = []  # (epoch, beta in force at its end); VAE runs only

    def _legend(self) -> Text:
        # Each mark sits against its word and two spaces part the entries, so
        # "•train  +test" reads as two entries and a narrow panel wraps between
        # them, never inside one (wrapping breaks at any space, no-break too).
        text = Text(f"{self.title} (log)", style="bold")
        entries = [("━", "steps", STEP_COLOUR)] if self.live else []
        entries += [("•", "train", TRAIN_COLOUR), ("+", "test", TEST_COLOUR)]
        if self.betas:
            entries.append(("◆", "β", BETA_COLOUR))
        for mark, word, colour in entries:
            text.append("  ")
            text.append(mark + word, style=rich_colour(shade(self.app, colour)))
        return text

    # data in
    def clear(self) -> None:
        self.steps.clear()
        self.epochs.clear()
        self.betas.clear()
        self.request(now=True)

    def add_step(self, epoch: int, step: int, steps: int, loss: float) -> None:
        self.steps.append((epoch - 1 + step / steps, loss))
        self.request()

    def add_epoch(self, epoch: int, train_loss: float, test_loss: float, beta: float | None = None) -> None:
        # throttled too: with tiny epochs there can be dozens a second
        self.epochs.append((epoch, train_loss, test_loss))
        if beta is not None:
            self.betas.append((epoch, beta))
        self.request()

    def set_points(self, steps: list[tuple[float, float]], epochs: list[tuple[int, float, float]],
                   betas: list[tuple[int, float]] = ()) -> None:
        """Replace everything at once (moving through a run's history)."""
        self.steps, self.epochs, self.betas = list(steps), list(epochs), list(betas)
        self.request(now=True)

    def set_history(self, metrics: list[dict]) -> None:
        """Per-epoch rows from metrics.jsonl (a saved run, or a resumed one)."""
        self.steps.clear()
        self.epochs = [(m["epoch"], m["train_loss"], m["test_loss"]) for m in metrics]
        self.betas = [(m["epoch"], m["beta"]) for m in metrics if m.get("beta") is not None]
        self.request(now=True)

    # drawing
    def _redraw(self, plt) -> None:
        plt.xlabel("epoch")
        values = [y for _, y in self.steps] + [v for e in self.epochs for v in e[1:]]
        if self.steps:
            xs, ys = zip(*self.steps)
            plt.plot(list(xs), log_values(ys), color=shade(self.app, STEP_COLOUR), marker="braille")
        if self.epochs:
            xs = [e[0] for e in self.epochs]
            plt.plot(xs, log_values(e[1] for e in self.epochs), color=shade(self.app, TRAIN_COLOUR), marker="•")
            plt.plot(xs, log_values(e[2] for e in self.epochs), color=shade(self.app, TEST_COLOUR), marker="+")
        if values:
            ticks = log_ticks(min(values), max(values))
            plt.yticks([math.log10(t) for t in ticks], [f"{t:.3g}" for t in ticks])
        if self.betas:
            xs, bs = zip(*self.betas)
            plt.plot(list(xs), list(bs), color=shade(self.app, BETA_COLOUR), marker="◆", yside="right")
            top = max(max(bs), 1e-9)
            plt.ylim(0, top * 1.05, yside="right")
            plt.ylabel("β", yside="right")
            plt.yticks([0, top / 2, top], ["0", f"{top / 2:.2g}", f"{top:.2g}"], yside="right")


FLOOR = 1e-12  # a loss of exactly 0 still gets a place on the log axis


def log_values(values) -> list[float]:
    return [math.log10(max(v, FLOOR)) for v in values]


def log_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """Round values (1, 2, 5 times a power of ten; finer steps for a narrow range)
    between lo and hi, at most `most` of them; evenly spaced ones when no two
    round values fall in the range."""
    lo, hi = max(lo, FLOOR), max(hi, FLOOR)
    powers = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    for mantissas in ((1, 2, 5), (1, 1.5, 2, 3, 4, 5, 6, 8)):
        ticks = [m * 10.0**k for k in powers for m in mantissas if lo <= m * 10.0**k <= hi]
        if len(ticks) >= 3:
            break
    if len(ticks) > most:
        decades = [t for t in ticks if math.isclose(10 ** round(math.log10(t)), t)]
        ticks = decades if len(decades) >= 2 else ticks
        ticks = ticks[:: math.ceil(len(ticks) / most)]
    if len(ticks) < 2:
        if hi <= lo * (1 + 1e-9):
            return [lo]
        step = (math.log10(hi) - math.log10(lo)) / 3
        ticks = [10 ** (math.log10(lo) + i * step) for i in range(4)]
    return ticks
