"""aekl-tui entry point (the full app arrives with the TUI issue)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, Static


class AeklApp(App):
    TITLE = "aekl"
    BINDINGS = [("q", "quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("aekl")
        yield Footer()


def make_app() -> AeklApp:
    return AeklApp()


def main() -> None:
    make_app().run()
