"""Decoded interpolation frames as half-block characters (two pixels a cell).

The strip fits itself to the space it is given (core.figures.render.pick_frames):
every frame at the largest size that fits, or seven evenly spaced ones a
little larger when that would be too small to read.
"""

from __future__ import annotations

import numpy as np
from rich.console import RenderableType
from rich.text import Text
from textual.widget import Widget

from core.figures.render import GAP, pick_frames, resize, to_unit
from tui.pixels import strip_text
from tui.throttle import Throttle

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
