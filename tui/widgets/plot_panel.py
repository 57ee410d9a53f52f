"""A one-line legend over a plotext plot, rebuilt at most every two seconds.

The loss chart and the latent scatter are both this: subclasses say what the
legend shows (`_legend`) and how to rebuild the plot (`_redraw`), and call
`request()` when their data changes.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static
from textual_plotext import PlotextPlot

from tui.throttle import Throttle


class PlotPanel(Vertical):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._throttle: Throttle | None = None

    def compose(self) -> ComposeResult:
        yield Static(self._legend(), classes="panel-title")
        yield PlotextPlot()

    def on_mount(self) -> None:
        self._throttle = Throttle(self, self._rebuild, gap=2.0)
        self._rebuild()
        # the colours depend on the theme (tui/widgets/palette.py shade): redraw when it changes
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.request(now=True))

    def request(self, now: bool = False) -> None:
        """Data changed: rebuild now, or once the throttle allows."""
        if self._throttle is None:
            return  # not mounted yet: on_mount draws whatever is there
        self._throttle.flush() if now else self._throttle.request()

    @property
    def pending(self) -> bool:
        """New data waits to be drawn (the throttle's gap has not passed)."""
        return self._throttle is None or self._throttle.waiting

    def _rebuild(self) -> None:
        self.query_one(".panel-title", Static).update(self._legend())
        plot = self.query_one(PlotextPlot)
        plot.plt.clear_data()
        self._redraw(plot.plt)
        plot.refresh()

    def _legend(self) -> Text:
        raise NotImplementedError

    def _redraw(self, plt) -> None:
        raise NotImplementedError
