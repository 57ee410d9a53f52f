"""The KL screen: the KL panel, and on request the derivations with the typed numbers."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Markdown, Static

from tui.widgets.kl_panel import KLPanel


class KLScreen(Screen):
    AUTO_FOCUS = "#kl-mu"  # type at once; the scroll container would otherwise take focus
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("ctrl+t", "derivations", "Derivations"),
    ]

    def __init__(self, mu: str = "", sigma: str = "", mu1: str = "", sigma1: str = "") -> None:
        super().__init__()
        self._initial = dict(mu=mu, sigma=sigma, mu1=mu1, sigma1=sigma1)
        self.derivations = False

    def compose(self) -> ComposeResult:
        yield Static("KL divergence between diagonal Gaussians q and p", classes="screen-title")
        with VerticalScroll(id="kl-scroll"):
            yield KLPanel(**self._initial, id="kl-panel")
            yield Markdown("", id="kl-explain")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#kl-explain").display = False

    def action_derivations(self) -> None:
        self.derivations = not self.derivations
        self.query_one("#kl-explain").display = self.derivations
        self._explain()

    def on_input_changed(self, event: Input.Changed) -> None:
        if self.derivations:
            self._explain()

    def _explain(self) -> None:
        if not self.derivations:
            return
        from core.explain import explain_markdown

        report = self.query_one(KLPanel).report
        if report is not None:
            self.query_one("#kl-explain", Markdown).update(explain_markdown(report.problem.q, report.problem.p))
