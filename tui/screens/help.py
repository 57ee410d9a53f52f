"""`?` or F1: what every key does, read from the bindings themselves, so a
key added to a screen is in the help without anyone remembering to add it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

# keys that are not bindings: what typing and Enter do where fields are
TYPING = {
    "Training screen": [("Tab", "into the form and through every field and the board"),
                        ("Enter", "in a field: start a run")],
    "Run screen": [("Tab", "through the index fields and the board"),
                   ("two indices, Enter", "decode the line between two test images"),
                   ("inspect index, Enter", "on a VAE run: that test image's q(z|x), μ, σ and KL per dimension")],
    "KL screen": [("typing", "μ and σ, comma-separated; results follow once you pause")],
}

FOOTNOTE = ("A stopped run continues from the runs screen (`c`) or from a shell with "
            "`aekl train --resume RUN_ID --out RUNS_DIR`.")


def screens() -> list[tuple[str, type]]:
    """(title, class) of every screen with keys of its own, in the order a user meets them."""
    from tui.screens.compare import CompareScreen
    from tui.screens.kl import KLScreen
    from tui.screens.kl_demo import KLDemoScreen
    from tui.screens.run_detail import RunDetailScreen
    from tui.screens.runs import RunsScreen
    from tui.screens.training import TrainScreen
    from tui.screens.traversals import TraversalScreen

    return [("Training screen", TrainScreen), ("Runs screen", RunsScreen), ("Run screen", RunDetailScreen),
            ("Runs side by side", CompareScreen),
            ("Traversals", TraversalScreen), ("KL screen", KLScreen), ("Forward vs reverse", KLDemoScreen)]


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def help_markdown(app) -> str:
    """Markdown tables of every binding: key as the footer shows it, and what it does."""
    parts = ["# aekl-tui keys"]
    sections = screens() + [("Everywhere", type(app))]
    for title, cls in sections:
        rows = list(TYPING.get(title, []))
        keys: dict[tuple, list[str]] = {}  # one row per action: all its keys
        for binding in cls.BINDINGS:
            if isinstance(binding, Binding):
                what = (binding.action, binding.tooltip or binding.description)
                keys.setdefault(what, []).append(app.get_key_display(binding))
        rows += [(", ".join(shown), what) for (_, what), shown in keys.items()]
        parts.append(f"## {title}\n\n| key | what it does |\n|---|---|\n"
                     + "\n".join(f"| `{cell(k)}` | {cell(what)} |" for k, what in rows))
    parts.append(FOOTNOTE)
    return "\n\n".join(parts)


class HelpScreen(ModalScreen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Close"),
        Binding("question_mark", "app.pop_screen", "Close", show=False),
        Binding("f1", "app.pop_screen", "Close", show=False),
        Binding("q", "app.pop_screen", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Markdown(help_markdown(self.app))
