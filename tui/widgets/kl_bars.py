"""KL per latent dimension as horizontal bars: which dimensions carry information.

One line per dimension, `z3 ███████▍ 2.41`, bars scaled to the largest KL and
drawn with eighth blocks so small differences still show at 80 columns. A
dimension under the quiet line (core.nn.elbo.QUIET_KL) is drawn muted: it
carries almost nothing, and when most are muted the posterior collapsed.

Self-contained: a screen calls `show(values)` with a list of floats (an
EpochEnd's kl_per_dim, or a metrics row's) and nothing else.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

EIGHTHS = " ▏▎▍▌▋▊▉█"  # 0/8 ... 8/8 of a cell
QUIET_KL = 0.1  # nats; the same line as core.nn.elbo.QUIET_KL (kept here so the widget needs no torch)


def bar(value: float, top: float, cells: int) -> str:
    """A bar `cells` wide at `top`, in eighths of a cell, padded with spaces."""
    if top <= 0 or cells <= 0:
        return " " * max(cells, 0)
    eighths = round(max(0.0, min(value / top, 1.0)) * cells * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + (EIGHTHS[part] if part else "")
    return text.ljust(cells)


def bar_lines(values: list[float], width: int) -> list[tuple[str, str, str]]:
    """(label, bar, number) per dimension, fitted to `width` columns."""
    if not values:
        return []
    label_w = len(f"z{len(values)}")
    numbers = [f"{v:.2f}" for v in values]
    number_w = max(len(n) for n in numbers)
    cells = max(1, width - label_w - number_w - 2)
    top = max(values)
    return [(f"z{d + 1}".ljust(label_w), bar(v, top, cells), n.rjust(number_w))
            for d, (v, n) in enumerate(zip(values, numbers))]


class KLBars(Static):
    """Per-dimension KL bar chart; `show([])` (an autoencoder) says there is none."""

    DEFAULT_CSS = """
    KLBars { height: auto; }
    """

    def __init__(self, values: list[float] | None = None, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.values: list[float] = list(values or [])

    def on_mount(self) -> None:
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def show(self, values) -> None:
        self.values = [float(v) for v in values]
        self._draw()

    @property
    def text(self) -> str:
        return self.content.plain if isinstance(self.content, Content) else str(self.content)

    def _draw(self) -> None:
        if not self.values:
            self.update(Content.styled("no KL per dimension (a plain autoencoder has no posterior)", "$text-muted"))
            return
        quiet = sum(1 for v in self.values if v < QUIET_KL)
        head = Content(f"KL per dimension, nats (sum {sum(self.values):.2f}; {quiet} quiet)")
        lines = [head]
        for (label, body, number), v in zip(bar_lines(self.values, self.size.width or 40), self.values):
            style = "$text-muted" if v < QUIET_KL else "$text-accent"  # text-: readable on light themes too
            lines.append(Content.assemble(label + " ", (body, style), " " + number))
        self.update(Content("\n").join(lines))
