"""`?`: what every key does, on one page, made from the screens' own bindings
so that it cannot drift from them."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

# What a binding's short footer word does not say; keyed by action, so a key
# that is renamed keeps its words and a binding that goes takes them with it.
MORE = {
    "start": "with the form's values (or Enter in a field)",
    "stop": "finish the step, write checkpoint and figures",
    "open": "the selected run: loss, latents, interpolation",
    "resume": "the selected stopped or interrupted run, in a new process",
    "reload": "read the runs folder now (it is read every few seconds anyway)",
    "history(-1)": "show the previous epoch", "history(1)": "show the next epoch",
    "kl_screen": "the KL screen filled with the inspected posterior (VAE runs)",
    "traversals": "traversals around the inspected image (VAE runs above 2-D)",
    "derivations": "show or hide the derivations",
    "quit": "asks first while a run this app started trains",
}

NOTES = """
On a run's screen, type two test indices and Enter to decode the line between
them; type an index under *inspect* and Enter for that image's q(z|x).
A stopped run continues from the runs screen (`c`) or from a shell with
`aekl train --resume RUN_ID --out RUNS_DIR`.
"""


def _key(binding: Binding) -> str:
    return binding.key_display or binding.key.replace("question_mark", "?")


def table(title: str, bindings) -> str:
    rows = [f"## {title}", "", "| key | what it does |", "|---|---|"]
    for b in bindings:
        b = b if isinstance(b, Binding) else Binding(*b)
        if not b.description:
            continue
        words = b.description + (f": {MORE[b.action]}" if b.action in MORE else "")
        words = words.replace("|", "\\|")  # a bar would end the Markdown cell
        rows.append(f"| `{_key(b)}` | {words} |")
    return "\n".join(rows) + "\n"


def help_text() -> str:
    from tui.app import AeklApp
    from tui.screens.kl import KLScreen
    from tui.screens.run_detail import RunDetailScreen
    from tui.screens.runs import RunsScreen
    from tui.screens.training import TrainScreen

    parts = ["# aekl-tui keys\n"]
    for title, owner in (("Training screen", TrainScreen), ("Runs screen", RunsScreen),
                         ("A run's screen", RunDetailScreen), ("KL screen", KLScreen), ("Everywhere", AeklApp)):
        parts.append(table(title, owner.BINDINGS))
    return "\n".join(parts) + NOTES


class HelpScreen(ModalScreen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Close"),
        Binding("question_mark", "app.pop_screen", "Close", show=False),
        Binding("q", "app.pop_screen", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Markdown(help_text())
