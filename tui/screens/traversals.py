"""Traversals of a VAE with more than two latent dimensions, in the terminal.

One row per dimension, largest test KL first (KL is an upper bound on the
information a dimension carries, not the information itself): the code of
one test image with that dimension moved from -3 to +3 prior sigmas, decoded
(core.nn.latent.traversal_images, the same decodes as traversals.png). A row
whose digits do not change is a dimension the decoder ignores.
"""

from __future__ import annotations

import numpy as np
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from core.nn.latent import TRAVERSAL_VALUES
from core.figures.render import LEGIBLE, resize, to_unit
from tui.pixels import strip_text

MARGIN = 2  # columns the scroll bar may take; each row's label is on a line of its own


def columns_shown(width: int, count: int = len(TRAVERSAL_VALUES)) -> list[int]:
    """Which of the `count` values to draw: all when each digit gets LEGIBLE pixels,
    else every second or fourth (evenly spaced, both ends and the middle kept)."""
    fit = (width - MARGIN + 1) // (LEGIBLE + 1)
    for every in (1, 2, 4):
        shown = list(range(0, count, every))
        if len(shown) <= fit or every == 4:
            return shown
    return shown


def cell_side(width: int, count: int) -> int:
    """Pixels a side for `count` digits one blank column apart, 4 to 28."""
    return max(4, min(28, (width - MARGIN + 1) // count - 1))


class TraversalScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back", tooltip="back to the run")]

    def __init__(self, order: list[int], images: np.ndarray, kl_per_dim, index: int, digit: int) -> None:
        super().__init__()
        self.order = list(order)
        self.images = images  # (latent, len(TRAVERSAL_VALUES), 784) in [-1, 1], rows in `order`
        self.kl_per_dim = [float(v) for v in kl_per_dim]
        self.index, self.digit = index, digit

    def compose(self) -> ComposeResult:
        shown = columns_shown(self.app.size.width)
        side = cell_side(self.app.size.width, len(shown))
        yield Static(f"traversals of test #{self.index} (a {self.digit}): a row per dimension, largest KL first",
                     classes="screen-title")
        # each column's value over its digit, so the columns read without the title
        yield Static(column_heads([TRAVERSAL_VALUES[i] for i in shown], side), classes="traversal-head")
        with VerticalScroll(id="traversal-rows"):
            for row, d in enumerate(self.order):
                digits = [resize(to_unit(self.images[row][i].reshape(28, 28)), side) for i in shown]
                label = f"z{d + 1} KL {self.kl_per_dim[d]:.2f}"
                yield Static(label, classes="traversal-label")
                yield Static(strip_text(digits), classes="traversal-row")
        yield Footer(compact=True, show_command_palette=False)


def column_heads(values: list[float], side: int) -> str:
    """The values, in prior σ, centred over digits `side` columns wide and one apart;
    a value wider than its digit is left out (the ends and the middle are kept)."""
    cells = []
    for k, v in enumerate(values):
        word = f"{v:+g}σ" if v else "0"
        if len(word) > side and k not in (0, len(values) // 2, len(values) - 1):
            word = ""
        cells.append(word.center(side))
    return " ".join(cells)
