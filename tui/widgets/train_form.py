"""The training form: the fields of AEConfig a person changes most, on two lines.

Defaults are not written here: the form is filled from an AEConfig (its own
defaults, overridden by command-line flags or a resumed run's config), and
reading it back replaces those fields in that same config, so options the
form does not show (hidden widths, beta, ...) keep their values.

Each field is checked as it is typed with AEConfig.validate() itself (as an
Input validator, so Textual keeps the `-invalid` CSS class in step); the
first problem is shown in the form's note line.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Select, Static

from core.config import DEVICES, KINDS, AEConfig
from core.errors import BadInput
from tui.validate import Check


def _int(text: str) -> int:
    return int(text.replace("_", ""))


def _subset(text: str) -> int | None:
    return None if text.strip().lower() in ("", "all") else _int(text)


# field name -> (label, parser for the typed text, input width in cells)
FIELDS: dict[str, tuple[str, Callable[[str], Any], int]] = {
    "latent": ("latent", _int, 6),
    "epochs": ("epochs", _int, 6),
    "batch_size": ("batch", _int, 7),
    "lr": ("lr", float, 9),
    "subset": ("subset", _subset, 8),
    "seed": ("seed", _int, 6),
}
CHOICES = {"kind": KINDS, "device": DEVICES}
ROWS = (("latent", "kind", "epochs", "batch_size", "lr"), ("subset", "device", "seed"))


def shown(name: str, value: Any) -> str:
    """A config value as the form shows it."""
    if name == "subset" and value is None:
        return "all"
    return f"{value:g}" if isinstance(value, float) else str(value)


class TrainForm(Vertical):
    def __init__(self, config: AEConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        self.base = config
        self.errors: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        for row in ROWS:
            with Horizontal(classes="form-row"):
                for name in row:
                    label = FIELDS[name][0] if name in FIELDS else name
                    yield Label(label, classes="form-label")
                    value = getattr(self.base, name)
                    if name in CHOICES:
                        yield Select([(c, c) for c in CHOICES[name]], value=value, allow_blank=False,
                                     compact=True, id=f"f-{name}", classes=f"form-select -{name}")
                    else:
                        yield Input(shown(name, value), compact=True, id=f"f-{name}",
                                    classes=f"form-input -{name}", select_on_focus=True,
                                    validators=[Check(lambda text, n=name: self.problem(n, text))])
                if row is ROWS[-1]:
                    yield Static("", id="form-note")  # a bad field's message, beside the fields

    # reading
    def raw(self) -> dict[str, str]:
        out = {name: self.query_one(f"#f-{name}", Input).value for name in FIELDS}
        for name in CHOICES:
            out[name] = str(self.query_one(f"#f-{name}", Select).value)
        return out

    def _parse(self, name: str, text: str) -> Any:
        if name in CHOICES:
            return text
        try:
            return FIELDS[name][1](text.strip())
        except ValueError:
            raise BadInput(f"{FIELDS[name][0]}: {text.strip()!r} is not a number") from None

    def problem(self, name: str, text: str) -> str | None:
        """What is wrong with `text` as field `name`, by AEConfig's own rules, or None."""
        try:
            replace(self.base, **{name: self._parse(name, text)}).validate()
        except BadInput as exc:
            return exc.message
        return None

    def check(self, name: str) -> str | None:
        """Validate one field (marking it) and update the note; return the problem or None."""
        if name in CHOICES:
            problem = self.problem(name, self.raw()[name])
        else:
            field = self.query_one(f"#f-{name}", Input)
            result = field.validate(field.value)
            problem = None if result is None or result.is_valid else result.failure_descriptions[0]
        if problem is None:
            self.errors.pop(name, None)
        else:
            self.errors[name] = problem
        self._show_note()
        return problem

    def config(self) -> AEConfig:
        """The form as an AEConfig, or BadInput naming the first bad field."""
        for name in (*FIELDS, *CHOICES):
            self.check(name)
        if self.errors:
            raise BadInput(next(iter(self.errors.values())))
        values = {name: self._parse(name, text) for name, text in self.raw().items()}
        return replace(self.base, **values).validate()

    # writing
    def fill(self, config: AEConfig) -> None:
        """Show `config` (a resumed run's): fields not in the form come from it too."""
        self.base = config
        for name in FIELDS:
            self.query_one(f"#f-{name}", Input).value = shown(name, getattr(config, name))
        for name in CHOICES:
            self.query_one(f"#f-{name}", Select).value = getattr(config, name)
        for name in (*FIELDS, *CHOICES):
            self.check(name)

    def set_locked(self, locked: bool) -> None:
        """Read-only while a run trains: what is shown is what is running."""
        for widget in self.query(".form-input, .form-select"):
            widget.disabled = locked

    def _show_note(self) -> None:
        note = self.query_one("#form-note", Static)
        note.update(next(iter(self.errors.values()), ""))
        note.set_class(bool(self.errors), "-shown")

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.id.startswith("f-"):
            self.check(event.input.id[2:])

    def on_mount(self) -> None:
        for name in (*FIELDS, *CHOICES):
            self.check(name)
