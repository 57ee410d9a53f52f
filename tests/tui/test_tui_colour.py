"""Meaning without colour: the scatter marks points by digit when colours are few."""

from __future__ import annotations

import re

import pytest
from rich.color import Color

from tui.app import make_app
from tui.screens.run_detail import RunDetailScreen
from tui.widgets.latent_scatter import LatentScatter
from tui.widgets.palette import DIGIT_COLOURS, DIGIT_COLOURS_16

def test_ten_digit_colours_stay_distinct_in_16_and_256_colours():
    assert len(set(DIGIT_COLOURS)) == 10 and len(set(DIGIT_COLOURS_16)) == 10
    # never black, white or grey among the sixteen, so every digit shows on any background
    assert not set(DIGIT_COLOURS_16) & {0, 7, 8, 15} and all(0 <= c < 16 for c in DIGIT_COLOURS_16)
    # why a 16-colour palette of its own: the 256 one rounds to repeats among the sixteen
    rounded = [Color.parse(f"color({c})").downgrade(1).number for c in DIGIT_COLOURS]  # 1: standard
    assert len(set(rounded)) < 10


def contrast(code: int, background: str) -> float:
    """WCAG 2 contrast ratio of a 256-colour index against a #rrggbb background."""
    def luminance(rgb) -> float:
        lin = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in (c / 255 for c in rgb)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    t = Color.parse(f"color({code})").get_truecolor()
    a, b = luminance((t.red, t.green, t.blue)), luminance(bytes.fromhex(background.lstrip("#")))
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


@pytest.mark.asyncio
async def test_plot_colours_keep_3_to_1_contrast_on_the_light_theme(runs_dir):
    from tui.widgets.palette import BETA_COLOUR, STEP_COLOUR, TEST_COLOUR, TRAIN_COLOUR, shade
    from tui.widgets.palette import status_style

    app = make_app(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        app.theme = "textual-light"
        await pilot.pause()
        surface = app.theme_variables["surface"]
        lines = [shade(app, c) for c in (STEP_COLOUR, TRAIN_COLOUR, TEST_COLOUR, BETA_COLOUR)]
        digits = [shade(app, c) for c in DIGIT_COLOURS]  # as a 256-colour terminal draws them
        assert len(set(digits)) == 10
        assert min(contrast(c, surface) for c in (*lines, *digits)) >= 3.0
        assert status_style(app, "yellow") == app.theme_variables["text-warning"]  # "stopped" on the runs list
        app.theme = "textual-dark"
        await pilot.pause()
        assert [shade(app, c) for c in DIGIT_COLOURS] == list(DIGIT_COLOURS)  # dark: the PNGs' tab10 hues


@pytest.mark.asyncio
@pytest.mark.parametrize("env, glyphs", [({"NO_COLOR": "1"}, True),
                                         # the same drawing reached from $TERM: in the full suite only
                                         pytest.param({"TERM": "xterm"}, True, marks=pytest.mark.slow),
                                         pytest.param({"TERM": "xterm-256color"}, False, marks=pytest.mark.slow)])
async def test_scatter_points_are_their_digits_when_colours_are_few(trained_run, monkeypatch, until, text,
                                                                   env, glyphs):
    monkeypatch.chdir(trained_run.path.parent.parent)
    monkeypatch.delenv("COLORTERM", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    app = make_app(runs_dir="runs", attach=trained_run.id)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.state == "finished",
                    60, "the replay")
        scatter = app.screen.query_one(LatentScatter)
        await until(pilot, lambda: scatter.points is not None, 30, "the codes")

        def region() -> str:
            """Inside the scatter's frame: the fourth piece of a chart row split at the frames' edges."""
            rows = [re.split("[│┤├]", line) for line in text(app).splitlines()[2:14]]
            return "".join(pieces[3] for pieces in rows if len(pieces) >= 5)

        def digits_drawn() -> set[str]:
            return {ch for ch in region() if ch.isdigit()}

        def braille() -> bool:
            return any("\u2800" <= ch <= "\u28ff" for ch in region())

        # the plot is redrawn with some delay after the codes arrive: wait for the points to show
        await until(pilot, lambda: len(digits_drawn()) >= 5 or braille(), 30, "the points drawn")
        assert scatter.glyphs is glyphs
        if glyphs:
            assert "points are digits" in text(app)
            assert len(digits_drawn()) >= 5 and not braille()  # points of five digits or more, drawn as themselves
        else:
            assert "0123456789" in text(app).splitlines()[1] and braille()  # braille dots


@pytest.mark.asyncio
async def test_extreme_codes_get_compact_tick_labels(text, monkeypatch):
    import numpy as np
    from textual.app import App

    class One(App):
        def compose(self):
            yield LatentScatter()

    monkeypatch.setenv("TERM", "xterm-256color")  # braille dots: only the ticks are numbers
    monkeypatch.delenv("NO_COLOR", raising=False)
    rng = np.random.default_rng(1)
    codes = rng.normal(size=(300, 2)) * 3e17 + 1.234567890123e18  # what lr 1000 made of a run
    app = One()
    async with app.run_test(size=(80, 24)) as pilot:
        app.query_one(LatentScatter).set_codes(codes, rng.integers(0, 10, 300), now=True)
        await pilot.pause()
        numbers = re.findall(r"-?\d[\d.e+-]*", "\n".join(text(app).splitlines()[2:]))
        assert numbers and max(len(n) for n in numbers) <= 8, numbers  # e.g. 1.23e+18, not 19 digits
        frame = next(line for line in text(app).splitlines() if "┌" in line)
        assert len(frame.strip()) >= 60  # the plot keeps its width
