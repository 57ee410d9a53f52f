"""The training form: fields made from the option table (core/config.py).

Labels, choices, parsing and checks all come from the table; only the
layout (which fields, on which line) is written here. The third line holds
the VAE's options and shows only while the kind is vae; an AE ignores them.

Defaults are not written here: the form is filled from an AEConfig (its own
defaults, overridden by command-line flags, a config file or a resumed
run's config), and reading it back replaces the shown fields in that same
config, so options the form does not show keep their values.

Each field is checked as it is typed with AEConfig.validate() itself (as an
Input validator, so Textual keeps the `-invalid` CSS class in step); the
first problem is shown in the form's note line, under the fields.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Select, Static

from core.config import KINDS_OF, OPTIONS, AEConfig, config_with, option_text
from core.errors import BadInput
from tui.validate import Check

ROWS = (("latent", "kind", "epochs", "batch_size", "lr"),
        ("subset", "device", "seed", "hidden", "activation"),
        ("beta", "kl_schedule", "kl_warmup", "kl_cycles", "free_bits"))
VAE_ROW = 2  # shown only for a VAE: an AE has no KL term
NAMES = tuple(name for row in ROWS for name in row)
CHOICES = tuple(name for name in NAMES if OPTIONS[name].choices)
TYPED = tuple(name for name in NAMES if name not in CHOICES)
WIDTH = {int: 7, float: 7, tuple: 9}  # input cells by the kind of value
SELECT_EXTRA = 5  # cells a compact Select adds to its longest choice (padding and the arrow)


class TrainForm(Vertical):
    class Checked(Message):
        """The form's first problem after a field was checked (None: all good)."""

        def __init__(self, problem: str | None) -> None:
            super().__init__()
            self.problem = problem

    def __init__(self, config: AEConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        self.base = config
        self.errors: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        for i, row in enumerate(ROWS):
            with Horizontal(classes="form-row" + (" -vae" if i == VAE_ROW else ""), id=f"form-row-{i}"):
                for name in row:
                    yield Label(OPTIONS[name].label, classes="form-label")
                    yield self._field(name)
        # a bad field's message, on a line of its own under the fields (shown only then)
        yield Static("", id="form-note")

    def _field(self, name: str):
        choices = OPTIONS[name].choices
        if choices:
            field = Select([(c, c) for c in choices], value=getattr(self.base, name), allow_blank=False,
                           compact=True, id=f"f-{name}", classes=f"form-select -{name}")
            field.styles.width = max(map(len, choices)) + SELECT_EXTRA
        else:
            field = Input(option_text(self.base, name), compact=True, id=f"f-{name}", classes=f"form-input -{name}",
                          select_on_focus=True, validators=[Check(lambda text, n=name: self.problem(n, text))])
            field.styles.width = WIDTH.get(KINDS_OF[name].base, 7)
        if name in ROWS[VAE_ROW]:  # five fields and their labels on one line of 80 cells
            field.styles.margin = (0, 1, 0, 0)
        return field

    # reading
    def raw(self) -> dict[str, str]:
        out = {name: self.query_one(f"#f-{name}", Input).value for name in TYPED}
        for name in CHOICES:
            out[name] = str(self.query_one(f"#f-{name}", Select).value)
        return out

    def shown(self) -> tuple[str, ...]:
        """The fields that count: a VAE's own options are hidden, and ignored, for an AE."""
        kind = self.query("#f-kind")  # not there yet while the fields are being made
        if str(kind.first(Select).value if kind else self.base.kind) == "vae":
            return NAMES
        return tuple(name for name in NAMES if name not in ROWS[VAE_ROW])

    def problem(self, name: str, text: str) -> str | None:
        """What is wrong with `text` as field `name`, by AEConfig's own rules, or None."""
        if name not in self.shown():
            return None
        try:
            config_with(self.base, {name: text}, here=True)
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
        """The form as an AEConfig, or BadInput naming the first bad field.

        Hidden fields keep the values of the config the form was filled from."""
        for name in NAMES:
            self.check(name)
        if self.errors:
            raise BadInput(self.first_error())
        raw = self.raw()
        return config_with(self.base, {name: raw[name] for name in self.shown()}, here=True)

    # writing
    def fill(self, config: AEConfig) -> None:
        """Show `config` (a resumed run's): fields not in the form come from it too."""
        self.base = config
        for name in TYPED:
            self.query_one(f"#f-{name}", Input).value = option_text(config, name)
        for name in CHOICES:
            self.query_one(f"#f-{name}", Select).value = getattr(config, name)
        for name in NAMES:
            self.check(name)

    def set_locked(self, locked: bool) -> None:
        """Read-only while a run trains: what is shown is what is running."""
        for widget in self.query(".form-input, .form-select"):
            widget.disabled = locked

    def first_error(self) -> str | None:
        return next(iter(self.errors.values()), None)

    def _show_note(self) -> None:
        note = self.query_one("#form-note", Static)
        note.update(self.first_error() or "")
        note.set_class(bool(self.errors), "-shown")
        self.post_message(self.Checked(self.first_error()))

    def _show_vae_row(self) -> None:
        # the whole line goes for an AE: at 80x24 the charts want every row
        self.query_one(f"#form-row-{VAE_ROW}").display = str(self.query_one("#f-kind", Select).value) == "vae"

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.id.startswith("f-"):
            self.check(event.input.id[2:])

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "f-kind":
            self._show_vae_row()
            for name in ROWS[VAE_ROW]:  # their problems come and go with the row
                self.check(name)

    def on_mount(self) -> None:
        self._show_vae_row()
        for name in NAMES:
            self.check(name)
