"""The KL screen: the KL panel, the pictures `aekl kl --plot` draws (one
dimension's densities with the integrand; for two dimensions the 1σ and 2σ
ellipses, in a panel of their own) following the typing, and on request the derivations with the typed numbers, all at once
(ctrl+t) or one step per key (ctrl+n); ctrl+r opens forward vs reverse KL."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Markdown, Static
from textual_plotext import PlotextPlot

from tui.screens.back import LeaveFieldFirst
from tui.widgets.kl_panel import KLPanel


class KLScreen(LeaveFieldFirst, Screen):
    AUTO_FOCUS = "#kl-mu"  # type at once; the scroll container would otherwise take focus
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="leave the field, or go back to the previous screen"),
        Binding("ctrl+t", "derivations", "Derivations", tooltip="show or hide the derivations with your numbers"),
        Binding("ctrl+n", "next_step", "Next step", tooltip="the derivations one step a press"),
        Binding("ctrl+r", "demo", "Forward vs reverse", tooltip="forward vs reverse KL on a two-mode mixture"),
    ]

    def __init__(self, mu: str = "", sigma: str = "", mu1: str = "", sigma1: str = "") -> None:
        super().__init__()
        self._initial = dict(mu=mu, sigma=sigma, mu1=mu1, sigma1=sigma1)
        self.derivations = False
        self.steps_shown: int | None = None  # None: every step; n: the first n (step-by-step mode)

    def compose(self) -> ComposeResult:
        yield Static("KL divergence between diagonal Gaussians q and p", classes="screen-title")
        with VerticalScroll(id="kl-scroll"):
            yield KLPanel(**self._initial, id="kl-panel")
            yield Static("", id="kl-caption")
            with Horizontal(id="kl-plots"):
                yield PlotextPlot(id="kl-plot")
                yield PlotextPlot(id="kl-ellipses")
            yield Markdown("", id="kl-explain")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#kl-explain").display = False
        self._plot()

    async def action_derivations(self) -> None:
        self.derivations = not self.derivations
        self.steps_shown = None
        explain = self.query_one("#kl-explain")
        explain.display = self.derivations
        shown = self._explain()
        if shown is not None:
            await shown
            # they start below the plots, out of sight at 80x24: scroll to their top
            self.call_after_refresh(lambda: self.query_one("#kl-scroll").scroll_to_widget(explain, top=True,
                                                                                         animate=False))

    def action_demo(self) -> None:
        from tui.screens.kl_demo import KLDemoScreen

        self.app.push_screen(KLDemoScreen())

    async def action_next_step(self) -> None:
        """Step-by-step: the first press shows step 1, each further press one more."""
        if not self.derivations or self.steps_shown is None:
            self.derivations, self.steps_shown = True, 1
        else:
            self.steps_shown += 1
        self.query_one("#kl-explain").display = True
        shown = self._explain()
        if shown is not None:
            await shown  # the Markdown laid out, so the end of the scroll is where the new step is
        # the new step is at the bottom, likely below the fold: bring it into view
        self.call_after_refresh(lambda: self.query_one("#kl-scroll").scroll_end(animate=False))

    def on_klpanel_updated(self, event: KLPanel.Updated) -> None:
        self._plot()
        if self.derivations:
            self._explain()

    def _plot(self) -> None:
        from core.gauss.density import caption, draw_densities, draw_ellipses, picture

        report = self.query_one(KLPanel).report
        if report is None:
            return
        pic = picture(report.problem.q, report.problem.p)
        for wid, draw_on in (("#kl-plot", draw_densities), ("#kl-ellipses", draw_ellipses)):
            widget = self.query_one(wid, PlotextPlot)
            widget.plt.clear_figure()
            draw_on(widget.plt, pic)
            widget.refresh()
        self.query_one("#kl-ellipses").display = pic.ellipses is not None
        self.query_one("#kl-caption", Static).update(caption(pic))

    def _explain(self):
        """Rewrite the derivations; the Markdown's update (awaitable) or None."""
        if not self.derivations:
            return None
        from core.gauss.explain import explain_steps

        report = self.query_one(KLPanel).report
        if report is None:
            return None
        steps = explain_steps(report.problem.q, report.problem.p)
        if self.steps_shown is not None:
            self.steps_shown = min(self.steps_shown, len(steps))
            shown = steps[: self.steps_shown]
            shown.append(f"*step {self.steps_shown} of {len(steps)}: ctrl+n for the next*")
        else:
            shown = steps
        return self.query_one("#kl-explain", Markdown).update("\n\n".join(shown))
