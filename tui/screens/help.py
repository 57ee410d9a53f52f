"""`?`: what every key does, on one page."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# aekl-tui keys

## Training screen

| key | what it does |
|---|---|
| `s` | start a run with the form's values (or Enter in a field) |
| `x` | stop: finish the step, write checkpoint and figures |
| `Tab`, `Esc` | move into the form, leave it |
| `r` | runs screen |
| `k` | KL screen |

## Runs and run screens

| key | what it does |
|---|---|
| `Enter` | open the selected run: loss, latents, interpolation |
| `c` | continue the selected run if it was stopped |
| `g` | read the runs folder again |
| two indices, `Enter` | on a run: decode the line between two test images |
| inspect index, `Enter` | on a VAE run: that test image's q(z\\|x): μ, σ and KL per dimension |
| `k` | on a VAE run: the KL screen filled with the inspected posterior |
| `v` | on a VAE run above 2-D: traversals around the inspected image |

## KL screen

| key | what it does |
|---|---|
| typing | μ and σ, comma-separated; results follow as you type |
| `ctrl+t` | show or hide the derivations |

## Everywhere

| key | what it does |
|---|---|
| `?` | this help |
| `t` | light or dark theme |
| `Esc` | back |
| `q`, `ctrl+q` | quit (asks first while a run trains) |

A stopped run continues from the runs screen (`c`) or from a shell with
`aekl train --resume RUN_ID --out RUNS_DIR`.
"""


class HelpScreen(ModalScreen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Close"),
        Binding("question_mark", "app.pop_screen", "Close", show=False),
        Binding("q", "app.pop_screen", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Markdown(HELP)
