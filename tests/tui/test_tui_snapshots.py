"""SVG snapshots of screens that do not depend on training or timing, at 80x24
and 120x40, and with NO_COLOR.

Regenerate after an intended change with `pytest tests/tui --snapshot-update`
and look at the SVGs before committing them.
"""

from __future__ import annotations

import time

import pytest

from tui.app import QUIT_ANSWERS, make_app, quit_question
from tui.screens.confirm import Confirm
from tui.widgets.kl_panel import KLPanel

# 80x24 in the fast loop; the larger terminal draws the same widgets at more cost.
SIZES = [(80, 24), pytest.param((120, 40), marks=pytest.mark.slow)]


@pytest.fixture(autouse=True)
def colours(monkeypatch):
    """A 256-colour terminal unless a test says otherwise: the scatter draws
    differently with few colours, and snapshots must not depend on $TERM."""
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("COLORTERM", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture
def no_color(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")


async def settle(pilot, condition, limit: float = 30.0) -> None:
    end = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < end, "the screen never settled"
        await pilot.pause(0.05)
    await pilot.pause()


async def kl_input(pilot):
    await pilot.press("k")
    await pilot.pause()
    await pilot.press(*"0.5,1", "tab", *"1,2")
    panel = pilot.app.screen.query_one(KLPanel)
    await settle(pilot, lambda: not panel.pending)
    await pilot.press("escape")  # leave the field: no blinking cursor in the picture


async def run_view(pilot):
    from tui.screens.run_detail import RunDetailScreen
    from tui.widgets.digit_strip import DigitStrip

    from tui.widgets.plot_panel import PlotPanel

    app = pilot.app
    await settle(pilot, lambda: isinstance(app.screen, RunDetailScreen)
                 and "checkpoint.pt is damaged" in app.screen.query_one(DigitStrip).caption
                 and not any(panel.pending for panel in app.screen.query(PlotPanel)))


@pytest.mark.parametrize("size", SIZES)
def test_main_screen_idle(runs_dir, snap_compare, size):
    assert snap_compare(make_app(runs_dir=runs_dir), terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_kl_screen_with_input(runs_dir, snap_compare, size):
    assert snap_compare(make_app(runs_dir=runs_dir), terminal_size=size, run_before=kl_input)


def test_kl_screen_marks_bad_input(runs_dir, snap_compare):
    async def type_input(pilot):
        await kl_input(pilot)
        pilot.app.screen.query_one("#kl-sigma").focus()  # back into σ: 1,2 -> 1,-2
        await pilot.press("end", "backspace", "-", "2")
        panel = pilot.app.screen.query_one(KLPanel)
        await settle(pilot, lambda: not panel.pending)
        await pilot.press("escape")

    assert snap_compare(make_app(runs_dir=runs_dir), terminal_size=(80, 24), run_before=type_input)


@pytest.mark.parametrize("size", SIZES)
def test_help_screen(runs_dir, snap_compare, size):
    assert snap_compare(make_app(runs_dir=runs_dir), terminal_size=size, press=["f1"])


@pytest.mark.parametrize("size", SIZES)
def test_runs_screen_with_a_fixed_run(prepared_run, runs_dir, snap_compare, size, until):
    async def open_runs(pilot):
        from tui.widgets.run_list import RunList

        await pilot.press("r")  # the list is read off the UI thread: wait for it
        await until(pilot, lambda: pilot.app.screen.query_one(RunList).loaded, 30, "the runs list")

    assert snap_compare(make_app(runs_dir=runs_dir), terminal_size=size, run_before=open_runs)


@pytest.mark.parametrize("size", SIZES)
def test_run_view_of_a_fixed_run(prepared_run, runs_dir, snap_compare, size):
    app = make_app(runs_dir=runs_dir, attach=prepared_run.id)
    assert snap_compare(app, terminal_size=size, run_before=run_view)


def test_quit_dialog_names_the_run(runs_dir, snap_compare):
    async def ask(pilot):
        pilot.app.push_screen(Confirm(quit_question("20240101-120000-ae-z2"), QUIT_ANSWERS))
        await pilot.pause()

    assert snap_compare(make_app(runs_dir=runs_dir), terminal_size=(80, 24), run_before=ask)


@pytest.mark.slow  # the same screen as test_main_screen_idle in other colours
def test_main_screen_light_theme(runs_dir, snap_compare):
    assert snap_compare(make_app(runs_dir=runs_dir), terminal_size=(80, 24), press=["t"])


@pytest.mark.slow  # NO_COLOR in the fast loop: test_tui_colour
def test_kl_screen_without_colour(runs_dir, no_color, snap_compare):
    assert snap_compare(make_app(runs_dir=runs_dir), terminal_size=(80, 24), run_before=kl_input)


@pytest.mark.slow  # NO_COLOR in the fast loop: test_tui_colour
def test_run_view_without_colour(prepared_run, runs_dir, no_color, snap_compare):
    app = make_app(runs_dir=runs_dir, attach=prepared_run.id)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_view)
