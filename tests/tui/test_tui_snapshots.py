"""SVG snapshots of screens that do not depend on training or timing, at 80x24.

Regenerate after an intended change with `pytest tests/tui --snapshot-update`
and look at the SVGs before committing them.
"""

from __future__ import annotations

from tui.app import make_app


def test_main_screen_idle(runs_dir, snap_compare):
    assert snap_compare(make_app(runs_dir=runs_dir), terminal_size=(80, 24))


def test_kl_screen_with_input(runs_dir, snap_compare):
    async def type_input(pilot):
        await pilot.press("k")
        await pilot.pause()
        await pilot.press(*"0.5,1", "tab", *"1,2")

    assert snap_compare(make_app(runs_dir=runs_dir), terminal_size=(80, 24), run_before=type_input)


def test_kl_screen_marks_bad_input(runs_dir, snap_compare):
    async def type_input(pilot):
        await pilot.press("k")
        await pilot.pause()
        await pilot.press(*"0.5,1", "tab", *"1,-2")

    assert snap_compare(make_app(runs_dir=runs_dir), terminal_size=(80, 24), run_before=type_input)


def test_help_screen(runs_dir, snap_compare):
    assert snap_compare(make_app(runs_dir=runs_dir), terminal_size=(80, 24), press=["question_mark"])


def test_runs_screen_with_a_fixed_run(prepared_run, runs_dir, snap_compare, until):
    async def open_runs(pilot):
        from tui.widgets.run_list import RunList

        await pilot.press("r")  # the list is read off the UI thread: wait for it
        await until(pilot, lambda: pilot.app.screen.query_one(RunList).loaded, 30, "the runs list")

    assert snap_compare(make_app(runs_dir=runs_dir), terminal_size=(80, 24), run_before=open_runs)


def test_main_screen_light_theme(runs_dir, snap_compare):
    assert snap_compare(make_app(runs_dir=runs_dir), terminal_size=(80, 24), press=["t"])
