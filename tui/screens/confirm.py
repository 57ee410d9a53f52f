"""A question with a few answers over the current screen, each with its own key."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class Confirm(ModalScreen[str | None]):
    """Dismissed with the chosen answer's value; Escape gives None (cancel)."""

    BINDINGS = [Binding("escape", "answer('')", "Cancel", show=False)]

    def __init__(self, question: str, answers: list[tuple[str, str, str]]) -> None:
        """`answers`: (key, label, value); the first is the one drawn as the warning."""
        super().__init__()
        self.question, self.answers = question, answers

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static(self.question, id="confirm-question")
            with Horizontal(id="confirm-buttons"):
                for n, (key, label, value) in enumerate(self.answers):
                    yield Button(f"{label} ({'esc' if key == 'escape' else key})", id=f"answer-{value}", compact=True,
                                 variant="error" if n == 0 else "default")

    def on_key(self, event) -> None:
        for key, _, value in self.answers:
            if event.key == key:
                event.stop()
                self.dismiss(value)

    def action_answer(self, value: str) -> None:
        self.dismiss(value or None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id.removeprefix("answer-"))
