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
from core.figures.render import resize, to_unit
from tui.pixels import strip_text

LABEL = 14  # columns for "z12 KL 10.37"


def cell_side(width: int, count: int = len(TRAVERSAL_VALUES)) -> int:
    """Pixels a side for `count` digits (one blank column apart) after the label, 4 to 14."""
    return max(4, min(14, (width - LABEL - 2) // count - 1))


class TraversalScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, order: list[int], images: np.ndarray, kl_per_dim, index: int, digit: int) -> None:
        super().__init__()
        self.order = list(order)
        self.images = images  # (latent, len(TRAVERSAL_VALUES), 784) in [-1, 1], rows in `order`
        self.kl_per_dim = [float(v) for v in kl_per_dim]
        self.index, self.digit = index, digit

    def compose(self) -> ComposeResult:
        yield Static(f"traversals around test #{self.index} (a {self.digit}): each dimension moved "
                     f"{TRAVERSAL_VALUES[0]:+g} ... {TRAVERSAL_VALUES[-1]:+g} prior σ, largest KL first",
                     classes="screen-title")
        with VerticalScroll(id="traversal-rows"):
            side = cell_side(self.app.size.width)
            for row, d in enumerate(self.order):
                digits = [resize(to_unit(img.reshape(28, 28)), side) for img in self.images[row]]
                label = f"z{d + 1} KL {self.kl_per_dim[d]:.2f}".ljust(LABEL)
                yield Static(label, classes="traversal-label")
                yield Static(strip_text(digits), classes="traversal-row")
        yield Footer()
