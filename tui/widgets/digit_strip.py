"""Decoded interpolation frames as half-block characters (two pixels a cell).

The strip fits itself to the space it is given (core.figures.render.page_layout):
every frame when all fit at a legible size, otherwise fewer, larger frames a
page (a 28x28 digit is 28 columns by 14 rows), paged with `[` and `]`.
"""

from __future__ import annotations

import numpy as np
from rich.console import RenderableType
from rich.text import Text
from textual.widget import Widget

from core.figures.render import GAP, page_layout, resize, to_unit
from tui.pixels import strip_text
from tui.throttle import Throttle


class DigitStrip(Widget):
    """Shows (n, 28, 28) frames in [-1, 1] under a one-line caption."""

    def __init__(self, caption: str = "interpolation", **kwargs) -> None:
        super().__init__(**kwargs)
        self.caption = caption
        self.good_caption = caption  # the frames' own caption, back once an error is let go
        self.empty = "(no frames yet)"  # what stands for the frames while there are none
        self.frames: np.ndarray | None = None
        self.page = 0  # which page of frames is shown when they do not all fit
        self.shown: list[int] = []  # indices drawn at the last render
        self.side = 0  # pixels a side at the last render
        self._throttle = Throttle(self, self.refresh, gap=1.0)

    def set_frames(self, frames: np.ndarray, caption: str | None = None, now: bool = False) -> None:
        """New frames; drawn at most once a second unless `now` (a user asked for them)."""
        self.frames = np.asarray(frames)
        if caption is not None:
            self.caption = self.good_caption = caption
            self.remove_class("-error")
        self._throttle.flush() if now else self._throttle.request()

    def set_caption(self, caption: str, error: bool = False) -> None:
        """A new caption; an error one is drawn in the theme's error colour (CSS) and starts with 'error:'."""
        self.caption = caption
        self.set_class(error, "-error")
        self.refresh()

    def forget_error(self) -> None:
        """An error caption is about a request the user has since changed: show the frames' own again."""
        if self.has_class("-error") and self.frames is not None:
            self.set_caption(self.good_caption)

    def clear(self, caption: str = "interpolation", error: bool = False, empty: str = "(no frames yet)") -> None:
        self.frames = None
        self.empty = empty
        self.set_caption(caption, error)

    def turn(self, delta: int) -> None:
        """Show the next (delta > 0) or previous page of frames; stops at either end."""
        self.page = max(0, self.page + delta)
        self.refresh()

    def _layout(self) -> tuple[int, int]:
        rows = max(0, self.size.height - 1)
        return page_layout(len(self.frames), self.size.width, rows, self.frames.shape[-1])

    def _head(self, width: int, info: str) -> Text:
        """The caption cut to fit beside `info` (the page), so the page never wraps away."""
        room = max(1, width - len(info))
        head = Text(self.caption, style="bold")
        if self.has_class("-error"):
            head = Text("error: ", style="bold") + head
        head.truncate(room, overflow="ellipsis")
        return head + Text(info, style="dim")

    def render(self) -> RenderableType:
        width = self.size.width
        if self.frames is None or len(self.frames) == 0:  # the caption may be a reason: wrap it whole
            head = Text(("error: " if self.has_class("-error") else "") + self.caption, style="bold")
            return Text("\n").join([head, Text(self.empty, style="dim")]) if self.empty else head
        count = len(self.frames)
        per_page, self.side = self._layout()
        pages = max(1, -(-count // max(1, per_page)))
        self.page = min(self.page, pages - 1)
        self.shown = list(range(self.page * per_page, min(count, (self.page + 1) * per_page)))
        info = "" if pages == 1 else f" · {self.shown[0] + 1}-{self.shown[-1] + 1} of {count} ([ ])"
        head = self._head(width, info)
        if self.side < 2:
            return Text("\n").join([head, Text("(too small to draw)", style="dim")])
        images = [resize(to_unit(self.frames[i]), self.side) for i in self.shown]
        body = strip_text(images, gap=GAP)
        pad = (width - (len(images) * (self.side + GAP) - GAP)) // 2
        if pad > 0:
            body = Text("\n").join(Text(" " * pad) + line for line in body.split("\n"))
        out = Text("\n").join([head, body])
        out.no_wrap, out.overflow = True, "crop"
        return out
