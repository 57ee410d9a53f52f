"""One line under everything: state, epoch, step, speed, time left, device, run folder.

The state is a run's Status (its word and colour come from the schema) or
one of the screen's own phases before a run exists or while it stops. The
state word carries the colour (theme variables, so it reads on light and
dark themes); the rest is plain text. Errors replace the line's tail with
the message until the next run starts.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from core.runfolder.schema import Status
from tui.throttle import Throttle
from tui.widgets.palette import STATUS_THEME

# The screen's phases that are not a run's status.
PHASE_STYLE = {"idle": "$text-muted", "loading": "$accent", "stopping": "$warning"}

# Fields removed, in this order, when the line is wider than the terminal.
DROP_ORDER = ("rate", "device", "left", "step", "note")


class StatusBar(Static):
    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.fields: dict[str, str] = {"state": "idle"}
        self.style = PHASE_STYLE["idle"]
        self._throttle = Throttle(self, self._show, gap=1.0)

    def on_mount(self) -> None:
        self._show()

    def set(self, **fields: object) -> None:
        """Update some fields; a value of None removes that field.

        A change of state (or an error) shows at once; progress numbers alone
        are shown at most once a second.
        """
        urgent = "state" in fields or "error" in fields
        if isinstance(fields.get("state"), Status):
            status = fields["state"]
            self.style, fields["state"] = f"${STATUS_THEME[status.colour]}", status.word
        elif "state" in fields:
            self.style = PHASE_STYLE.get(str(fields["state"]), "$foreground")
        for key, value in fields.items():
            if value is None:
                self.fields.pop(key, None)
            else:
                self.fields[key] = str(value)
        self._throttle.flush() if urgent else self._throttle.request()

    def reset(self, state: str = "idle") -> None:
        self.fields = {}
        self.set(state=state)

    @property
    def text(self) -> str:
        return self.content.plain if isinstance(self.content, Content) else str(self.content)

    def on_resize(self) -> None:
        self._show()

    def _show(self) -> None:
        f = self.fields
        state = f.get("state", "idle")
        parts = {"state": Content.styled(f" {state} ", f"bold reverse {self.style}")}
        for key in ("epoch", "step", "rate", "left", "device", "note"):
            if key in f:
                parts[key] = Content(f[key])
        if "error" in f:
            parts["error"] = Content.styled(f["error"], "$error")
        if "run" in f:
            parts["run"] = Content.styled(f["run"], "$text-muted")
        # At 80 columns not everything fits: drop the least useful fields first
        # so that the state, the epoch and where the PNGs go stay readable.
        width = self.size.width or 10_000
        for key in DROP_ORDER:
            if sum(p.cell_length + 1 for p in parts.values()) - 1 <= width:
                break
            parts.pop(key, None)
        self.update(Content(" ").join(parts.values()))
