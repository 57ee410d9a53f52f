"""Esc that never traps: it leaves a text field first, and the screen only
when no field has focus (so typed values and decoded results stay)."""

from __future__ import annotations

from textual.widgets import Input


class LeaveFieldFirst:
    """Mixed into a Screen whose Esc binding runs `back`."""

    def action_back(self) -> None:
        if isinstance(self.focused, Input):
            self.set_focus(None)  # ←/→ and the letter keys act on the screen again
        else:
            self.app.pop_screen()
