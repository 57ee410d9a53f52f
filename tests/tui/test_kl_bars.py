"""The KL-per-dimension bar chart: bar arithmetic and the widget in a pilot."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult

from tui.widgets.kl_bars import KLBars, bar, bar_lines


def test_bars_are_scaled_to_the_largest_value_in_eighths():
    assert bar(2.0, 2.0, 4) == "████"
    assert bar(1.0, 2.0, 4) == "██  "
    assert bar(0.25, 2.0, 4) == "▌   "  # 1/8 of 4 cells = 4 eighths = half a cell
    assert bar(0.0, 2.0, 3) == "   "
    assert bar(1.0, 0.0, 3) == "   "  # nothing to scale against


def test_lines_fit_the_width():
    lines = bar_lines([0.5, 2.0, 0.0], width=20)
    assert [label for label, _, _ in lines] == ["z1", "z2", "z3"]
    assert [n for _, _, n in lines] == ["0.50", "2.00", "0.00"]
    assert all(len(label) + 1 + len(body) + 1 + len(n) == 20 for label, body, n in lines)
    assert lines[1][1] == "█" * 12  # 20 - "z2" - "2.00" - two spaces


class BarsApp(App):
    def compose(self) -> ComposeResult:
        yield KLBars(id="bars")


@pytest.mark.asyncio
async def test_widget_draws_one_bar_per_dimension_and_marks_quiet_ones():
    app = BarsApp()
    async with app.run_test(size=(40, 12)) as pilot:
        bars = app.query_one(KLBars)
        assert "no posterior" in bars.text
        bars.show([3.0, 0.02, 1.5])
        await pilot.pause()
        lines = bars.text.splitlines()
        assert lines[0] == "KL per dimension, nats (sum 4.52; 1 quiet)"
        assert [l.split()[0] for l in lines[1:]] == ["z1", "z2", "z3"]
        full = lines[1].count("█")
        assert full == 40 - 2 - 4 - 2  # label, number and two spaces take the rest
        assert lines[3].count("█") == full // 2  # 1.5 is half of 3.0
        assert lines[2].split()[-1] == "0.02" and "█" not in lines[2]
        # quiet dimensions are drawn muted, informative ones in the accent colour
        styles = {str(span.style) for span in bars.content.spans}
        assert "$text-muted" in styles and "$text-accent" in styles
