"""Forward vs reverse KL in the TUI: one Gaussian fitted to a mixture both
ways (core.gauss.demo, the code `aekl kl-demo` runs), redrawn as you type the
mixture. A bad field is marked from the error's `field`."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, Static
from textual_plotext import PlotextPlot

from core.errors import BadInput
from tui.screens.back import LeaveFieldFirst
from tui.validate import Check
from tui.widgets.kl_panel import STALE

# field id -> (label, the CLI's default)
FIELDS = {"weights": ("weights", "0.5,0.5"), "means": ("means", "-2,2"), "spreads": ("σ", "0.6,0.6")}


class KLDemoScreen(LeaveFieldFirst, Screen):
    AUTO_FOCUS = "#demo-weights"
    BINDINGS = [Binding("escape", "back", "Back", tooltip="leave the field, or go back to the KL screen")]

    def __init__(self) -> None:
        super().__init__()
        self.demo = None  # core.gauss.demo.Demo of the last valid mixture
        self.errors: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Static("Forward vs reverse KL: one Gaussian q fitted to a mixture p", classes="screen-title")
        with VerticalScroll(id="kl-scroll"):
            with Horizontal(classes="kl-row"):
                for name, (label, default) in FIELDS.items():
                    yield Label(label, classes="kl-label")
                    yield Input(default, compact=True, id=f"demo-{name}", classes="kl-input",
                                validators=[Check(lambda text, n=name: self._problem(n, text))])
            yield Static("", id="demo-note")
            yield PlotextPlot(id="demo-plot")
            yield Static("", id="demo-table")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#demo-plot").styles.height = 16
        self.recompute()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.recompute()

    def values(self) -> dict[str, str]:
        # an Input validates as it mounts, before its siblings exist: they count as their defaults
        out = {}
        for name, (_, default) in FIELDS.items():
            field = next(self.query(f"#demo-{name}").results(Input), None)
            out[name] = default if field is None else field.value
        return out

    @staticmethod
    def analyse(values: dict[str, str]):
        """(errors by field, demo or None) for these typed values."""
        from core.gauss.demo import Mixture, run_demo
        from core.gauss.parse import parse_floats

        try:
            numbers = {name: parse_floats(text, name) for name, text in values.items()}
            return {}, run_demo(Mixture.of(numbers["weights"], numbers["means"], numbers["spreads"]))
        except BadInput as exc:
            field = exc.field if exc.field in FIELDS else "weights"
            return {field: exc.worded(FIELDS[field][0])}, None

    def _problem(self, name: str, text: str) -> str | None:
        return self.analyse({**self.values(), name: text})[0].get(name)

    def recompute(self) -> None:
        from core.gauss.demo import draw

        self.errors, demo = self.analyse(self.values())
        for field in self.query(".kl-input").results(Input):
            field.validate(field.value)  # a change in one field can mend or break another
        note = next(iter(self.errors.values()), "")
        if demo is None and self.demo is not None:  # say the picture is of the last good mixture, as KLPanel does
            note += f"\n{STALE}"
        self.query_one("#demo-note", Static).update(note)
        if demo is None:
            return
        self.demo = demo
        plot = self.query_one("#demo-plot", PlotextPlot)
        draw(plot.plt, demo)
        plot.refresh()
        self.query_one("#demo-table", Static).update(self._table(demo))

    @staticmethod
    def _table(demo) -> Table:
        from core.present.numbers import num
        from core.gauss.demo import LABELS

        table = Table(box=None, padding=(0, 1), header_style="bold")
        for col in ("fit", "mean", "σ", "KL(q‖p)", "KL(p‖q)"):
            table.add_column(col, justify="left" if col == "fit" else "right")
        for key, (m, s) in (("mode", demo.mode), ("moments", demo.moments)):
            row = demo.table[key]
            table.add_row(LABELS[key], num(m), num(s), num(row["KL(q‖p)"]), num(row["KL(p‖q)"]))
        for o in demo.optima if len(demo.optima) > 1 else ():  # the reverse KL's other local minima
            table.add_row(f"  local min of KL(q‖p) from {', '.join(str(k + 1) for k in o.starts)}", num(o.m), num(o.s),
                          num(o.kl_qp), num(o.kl_pq))
        return table
