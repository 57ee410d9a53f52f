"""Latent scatter: codes of the fixed test subset, one colour per digit.

Codes with more than two dimensions are projected on their two principal
axes (core.figures.project.pca_2d, as latent.png does) and the title says so. Only a
fixed subsample is drawn: a terminal cell holds at most a few dots, and
plotext's cost grows with the number of points.

The posterior inspector marks one test image's q(z|x) on it: its mean and
1-sigma ellipse, for two-dimensional codes (drawn in z itself; a PCA view
would turn the ellipse into a projection that no longer reads as sigma).
"""

from __future__ import annotations

import numpy as np
from rich.text import Text

from core.nn.posterior import ellipse
from core.figures.project import pca_2d
from tui.widgets.palette import BETA_COLOUR, digit_colours, few_colours, rich_colour, shade
from tui.widgets.plot_panel import PlotPanel

MAX_POINTS = 800


def subsample(n: int, limit: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most `limit` of n points, fixed (seeded) and shuffled.

    The same points every epoch, so motion in the plot is the model's; shuffled
    so that no digit is always drawn last and hides the others where they overlap.
    """
    rng = np.random.default_rng(0)
    return rng.permutation(n)[:limit]


def project(codes: np.ndarray) -> tuple[np.ndarray, str, tuple[str, str]]:
    """(N, d) codes -> (N, 2) points, a caption, and axis names."""
    d = codes.shape[1]
    points, share = pca_2d(codes)
    if d > 2:
        return points, f"latent: PCA of {d}-D ({100 * float(share.sum()):.0f}% var)", ("PC1", "PC2")
    if d == 1:
        return points, "latent: 1-D", ("z1", "")
    return points, "latent z1, z2", ("z1", "z2")


class LatentScatter(PlotPanel):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.caption = "latent"
        self.title = ""  # what the scatter is of, where several stand side by side
        self.points: np.ndarray | None = None  # (n, 2) drawn points
        self.labels: np.ndarray | None = None  # (n,) their digits
        self.axes = ("z1", "z2")
        self.marked: tuple[np.ndarray, np.ndarray] | None = None  # (mu, sigma) of an inspected image, 2-D
        self.cursor: tuple[float, float] | None = None  # a point of the plane being explored, 2-D

    @property
    def glyphs(self) -> bool:
        """Points drawn as their digit: colour alone cannot tell ten digits apart here."""
        return few_colours(self.app)

    def _legend(self) -> Text:
        text = Text(f"{self.title}: " if self.title else "", style="bold")
        text.append(self.caption + " ", style="bold")
        mark = rich_colour(shade(self.app, BETA_COLOUR))
        if self.glyphs:  # the marks first: the words may be cut at 80 columns
            if self.marked is not None:
                text.append("○ 1σ ", style=mark)
            if self.cursor is not None:
                text.append("✚ cursor ", style=mark)
            text.append("points are digits", style="italic")
            return text
        for digit, colour in enumerate(digit_colours(self.app)):
            text.append(str(digit), style=f"bold {rich_colour(colour)}")
        if self.marked is not None:
            text.append(" ○ 1σ", style=mark)
        if self.cursor is not None:
            text.append(" ✚ cursor", style=mark)
        return text

    def mark(self, mu, sigma) -> bool:
        """Draw q(z|x)'s mean and 1-sigma ellipse; False (nothing drawn) unless codes are 2-D."""
        self.marked = (np.asarray(mu), np.asarray(sigma)) if len(mu) == 2 else None
        self.request(now=True)
        return self.marked is not None

    def set_cursor(self, z: tuple[float, float] | None) -> None:
        """Draw (or, with None, remove) the explorer's cursor at z."""
        self.cursor = z
        self.request(now=True)

    def set_codes(self, codes: np.ndarray, labels: np.ndarray, now: bool = False) -> None:
        """codes (N, latent) and labels (N,); draws a fixed subsample."""
        points, self.caption, self.axes = project(np.asarray(codes))  # axes from all codes
        keep = subsample(len(points))
        self.points, self.labels = points[keep], np.asarray(labels)[keep]
        self.request(now=now)

    def clear(self) -> None:
        self.points = self.labels = None
        self.caption = "latent"
        self.request(now=True)

    def _redraw(self, plt) -> None:
        plt.xlabel(self.axes[0])
        if self.points is not None and len(self.points):
            palette = digit_colours(self.app)
            digits = [int(d) % 10 for d in self.labels]
            colours = [palette[d] for d in digits]
            marker = [str(d) for d in digits] if self.glyphs else "braille"
            plt.scatter(self.points[:, 0].tolist(), self.points[:, 1].tolist(), color=colours, marker=marker)
            compact_ticks(plt, self.points)
        mark = shade(self.app, BETA_COLOUR)
        if self.marked is not None:
            mu, sigma = self.marked
            xs, ys = ellipse(mu, sigma)
            plt.plot(xs, ys, color=mark, marker="•")
            plt.scatter([float(mu[0])], [float(mu[1])], color=mark, marker="◆")
        if self.cursor is not None:
            plt.scatter([self.cursor[0]], [self.cursor[1]], color=mark, marker="✚")


def compact_ticks(plt, points: np.ndarray, count: int = 4) -> None:
    """Axis ticks with at most four significant digits, so extreme codes (a run
    with lr 1000 reaches 1e17) do not print 18-digit labels that squeeze the plot."""
    for axis, values in ((plt.xticks, points[:, 0]), (plt.yticks, points[:, 1])):
        lo, hi = float(np.min(values)), float(np.max(values))
        if not (np.isfinite(lo) and np.isfinite(hi)):
            continue
        ticks = np.linspace(lo, hi, count) if hi > lo else np.array([lo])
        axis(ticks.tolist(), [f"{t:.3g}" for t in ticks])
