"""Decoded interpolation frames as half-block characters (two pixels a cell).

The strip fits itself to the space it is given: every frame at the largest
size that fits, or, when that would be too small to read, seven evenly
spaced frames (start, five intermediate, end) a little larger. Images are
area-resampled from 28x28 to the chosen size, so any size works, not only
divisors of 28.
"""

from __future__ import annotations

import numpy as np
from rich.console import RenderableType
from rich.text import Text
from textual.widget import Widget

from core.render import strip_text, to_unit
from tui.throttle import Throttle

GAP = 1  # blank cells between frames
MIN_FRAMES = 7  # start + 5 intermediate + end: the least the strip may show
READABLE = 10  # below this many pixels a side, prefer fewer, larger frames


def resample_matrix(src: int, dst: int) -> np.ndarray:
    """(dst, src) weights that average source pixels into dst bins by overlap."""
    m = np.zeros((dst, src))
    scale = src / dst
    for i in range(dst):
        lo, hi = i * scale, (i + 1) * scale
        for j in range(int(np.floor(lo)), min(src, int(np.ceil(hi)))):
            m[i, j] = max(0.0, min(hi, j + 1) - max(lo, j))
    return m / m.sum(axis=1, keepdims=True)


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """Square image -> size x size by area averaging (no aliasing when shrinking)."""
    if image.shape[0] == size:
        return image
    m = resample_matrix(image.shape[0], size)
    return m @ image @ m.T


def pick_frames(count: int, width: int, rows: int, native: int = 28) -> tuple[list[int], int]:
    """Which frames to show and at how many pixels a side, for width x rows cells."""

    def side(n: int) -> int:
        across = (width - GAP * (n - 1)) // n
        return max(0, min(native, across, 2 * rows))

    every = list(range(count))
    if count <= MIN_FRAMES or side(count) >= READABLE:
        return every, side(count)
    few = sorted({int(round(x)) for x in np.linspace(0, count - 1, MIN_FRAMES)})
    if side(len(few)) <= side(count):
        return every, side(count)  # height is the limit: dropping frames gains nothing
    return few, side(len(few))


class DigitStrip(Widget):
    """Shows (n, 28, 28) frames in [-1, 1] under a one-line caption."""

    def __init__(self, caption: str = "interpolation", **kwargs) -> None:
        super().__init__(**kwargs)
        self.caption = caption
        self.frames: np.ndarray | None = None
        self.shown: list[int] = []  # indices drawn at the last render
        self.side = 0  # pixels a side at the last render
        self._throttle = Throttle(self, self.refresh, gap=1.0)

    def set_frames(self, frames: np.ndarray, caption: str | None = None, now: bool = False) -> None:
        """New frames; drawn at most once a second unless `now` (a user asked for them)."""
        self.frames = np.asarray(frames)
        if caption is not None:
            self.caption = caption
            self.remove_class("-error")
        self._throttle.flush() if now else self._throttle.request()

    def set_caption(self, caption: str, error: bool = False) -> None:
        """A new caption; an error one is drawn in the theme's error colour (CSS)."""
        self.caption = caption
        self.set_class(error, "-error")
        self.refresh()

    def clear(self, caption: str = "interpolation", error: bool = False) -> None:
        self.frames = None
        self.set_caption(caption, error)

    def render(self) -> RenderableType:
        if self.frames is None or len(self.frames) == 0:
            return Text(self.caption, style="bold") + Text("\n(no frames yet)", style="dim")
        head = Text(self.caption, style="bold", no_wrap=True, overflow="ellipsis")
        width, rows = self.size.width, max(0, self.size.height - 1)
        self.shown, self.side = pick_frames(len(self.frames), width, rows, self.frames.shape[-1])
        if len(self.shown) < len(self.frames):
            head.append(f" · {len(self.shown)} of {len(self.frames)} frames", style="dim")
        if self.side < 2:
            return head + Text("\n(too small to draw)", style="dim")
        images = [resize(to_unit(self.frames[i]), self.side) for i in self.shown]
        body = strip_text(images, gap=GAP)
        pad = (width - (len(images) * (self.side + GAP) - GAP)) // 2
        if pad > 0:
            body = Text("\n").join(Text(" " * pad) + line for line in body.split("\n"))
        return Text("\n").join([head, body])
