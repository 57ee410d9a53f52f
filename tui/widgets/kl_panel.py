"""KL between two diagonal Gaussians, recomputed as the user types.

Input is parsed and checked by core.gauss.parse, the same code `aekl kl` runs, so
the TUI and the CLI accept, reject and compute alike. Each field is checked
on its own first, so every bad field is marked (CSS class `-invalid`) and not
only the first; then the pair is checked together (matching dimensions).
The checks run as Input validators, so Textual keeps `-invalid` in step.
A blank field means the CLI's default: μ = 0, σ = 1, and p = N(0, I); each
field's placeholder says so, and a line under the fields names the defaults
in use, so a blank never changes the result unseen.

Results follow the typing once it pauses (DEBOUNCE): "0.5," on the way to
"0.5,1" is neither marked as an error nor shown as a result. `pending` is
True while a recompute waits; `Updated` is posted after each one.
"""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Static

from core.errors import BadInput
from tui.validate import Check

# field id -> the name messages use
LABELS = {"mu": "μ of q", "sigma": "σ of q", "mu1": "μ of p", "sigma1": "σ of p"}
CLOSED_FORM = ("KL(q ‖ p) = ½ Σ_j [ σ_j²/σ1_j² + (μ_j − μ1_j)²/σ1_j² − 1 − ln(σ_j²/σ1_j²) ]\n"
               "against N(0, I): ½ Σ_j (σ_j² + μ_j² − 1 − ln σ_j²)")
DEBOUNCE = 0.3  # seconds of no typing before the results follow
# what a blank field stands for, as the placeholder says it
DEFAULTS = {"mu": "0 each", "sigma": "1 each", "mu1": "0 each", "sigma1": "1 each"}
STALE = "not updated: the results below are for the last valid input"


def worded(exc: BadInput) -> str:
    """The error in the form's words: each field called by its label."""
    from core.gauss.parse import InputsDisagree

    if isinstance(exc, InputsDisagree):
        return exc.worded(LABELS.get(exc.field, exc.field), LABELS.get(exc.other, exc.other))
    return exc.worded(LABELS[exc.field]) if exc.field in LABELS else exc.message


def fields_of(exc: BadInput) -> list[str]:
    """The form fields an error is about, from its `field` (and `other`)."""
    named = [f for f in (exc.field, getattr(exc, "other", None)) if f in LABELS]
    return named or list(LABELS)


class KLPanel(Vertical):
    class Updated(Message):
        """The results (or the errors) now match the fields."""

    def __init__(self, mu: str = "", sigma: str = "", mu1: str = "", sigma1: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self._initial = {"mu": mu, "sigma": sigma, "mu1": mu1, "sigma1": sigma1}
        self.report = None  # core.gauss.parse.KLReport of the last valid input
        self.errors: dict[str, str] = {}  # field id -> message
        self.pending = False  # typing has changed a field the results do not yet follow
        self._timer = None

    def compose(self) -> ComposeResult:
        for who, (m, s) in (("q", ("mu", "sigma")), ("p", ("mu1", "sigma1"))):
            with Horizontal(classes="kl-row"):
                yield Label(who, classes="kl-who")
                for name, symbol in ((m, "μ"), (s, "σ")):
                    yield Label(symbol, classes="kl-label")
                    yield Input(self._initial[name], placeholder=f"blank: {DEFAULTS[name]}", compact=True,
                                id=f"kl-{name}", classes="kl-input", validate_on=["submitted"],
                                validators=[Check(lambda text, n=name: self._problem(n, text))])
        yield Static("", id="kl-note")
        yield Static("", id="kl-defaults")
        yield Static("", id="kl-stale")
        yield Static("", id="kl-table")
        yield Static("", id="kl-totals")
        yield Static(CLOSED_FORM, id="kl-formula")

    def on_mount(self) -> None:
        self.recompute()

    def on_input_changed(self, event: Input.Changed) -> None:
        # Wait for a pause in the typing: every keystroke restarts the wait.
        event.stop()
        self.pending = True
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(DEBOUNCE, self.recompute)

    def values(self) -> dict[str, str | None]:
        """The typed text by field; blank is None (the CLI's default for that option)."""
        out = {}
        for name in LABELS:
            found = self.query(f"#kl-{name}").results(Input)
            field = next(found, None)
            text = (field.value if field is not None else self._initial[name]).strip()
            out[name] = text or None
        return out

    def analyse(self, values: dict[str, str | None]):
        """(errors by field, report or None) for these typed values."""
        from core.gauss.parse import build_problem, check_sigma, report_for, parse_floats

        errors = {}
        for name, text in values.items():
            if text is None:
                continue
            try:
                numbers = parse_floats(text, name)
                if name.startswith("sigma"):
                    check_sigma(numbers, name)
            except BadInput as exc:
                errors[name] = worded(exc)
        if errors:
            return errors, None
        try:
            problem = build_problem(values["mu"], values["sigma"], None, values["mu1"], values["sigma1"])
            return {}, report_for(problem, samples=0)  # closed form only: this runs on every key
        except BadInput as exc:
            # a problem between fields (say, sizes) marks every field it is about
            return {name: worded(exc) for name in fields_of(exc)}, None

    def _problem(self, name: str, text: str) -> str | None:
        return self.analyse({**self.values(), name: text.strip() or None})[0].get(name)

    def recompute(self) -> None:
        errors, report = self.analyse(self.values())
        self.errors = errors
        for field in self.query(".kl-input").results(Input):
            field.validate(field.value)  # a change in one field can mend or break another
        note = self.query_one("#kl-note", Static)
        note.update(f"error: {next(iter(errors.values()))}" if errors else "")
        note.set_class(bool(errors), "-shown")
        if report is not None:
            self.report = report
            self._show(report)
        blanks = [f"{LABELS[n]} {DEFAULTS[n]}" for n, v in self.values().items() if v is None]
        self.query_one("#kl-defaults", Static).update("blank, so the default: " + ", ".join(blanks) if blanks else "")
        self.query_one("#kl-defaults", Static).display = bool(blanks)
        # the last good result stays, dimmed, and says so in words (no colour needed)
        self.set_class(bool(errors) and self.report is not None, "-stale")
        stale = self.query_one("#kl-stale", Static)
        stale.update(STALE if errors and self.report is not None else "")
        stale.display = bool(errors) and self.report is not None
        self.pending = False
        self.post_message(self.Updated())

    def _show(self, report) -> None:
        from core.present.kltable import direction_lines, kl_table

        view = kl_table(report, max_rows=20)
        table = Table(box=None, padding=(0, 1), expand=False, header_style="bold")
        for col in view.columns:
            table.add_column(col, justify="right")
        for row in view.rows:
            table.add_row(*row)
        if view.total is not None:
            table.add_section()
            table.add_row(*view.total, style="bold")
        self.query_one("#kl-table", Static).update(table)
        first, second = direction_lines(report)
        self.query_one("#kl-totals", Static).update(f"[b]{first}[/b]\n{second}")
