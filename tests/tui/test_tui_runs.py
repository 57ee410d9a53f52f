"""The runs screen and a run's own screen, from files on disk."""

from __future__ import annotations

import pytest

from tui.app import make_app
from tui.screens.run_detail import RunDetailScreen
from tui.widgets.digit_strip import DigitStrip
from tui.widgets.latent_scatter import LatentScatter
from tui.widgets.loss_chart import LossChart
from tui.widgets.run_list import RunList

pytestmark = pytest.mark.asyncio


async def test_runs_screen_lists_a_prepared_run(prepared_run, runs_dir, text):
    app = make_app(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("r")
        await pilot.pause()
        table = app.screen.query_one(RunList)
        assert [r["id"] for r in table.runs] == [prepared_run.id]
        row = table.runs[0]
        assert (row["status"], row["epochs"], row["planned"], row["best_test_mse"]) == ("stopped", 2, 5, 0.1234)
        shown = text(app)
        assert prepared_run.id in shown and "2/5" in shown and "0.1234" in shown and "stopped" in shown
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.get_default_screen()


async def test_empty_runs_folder_says_how_to_make_one(runs_dir, text):
    app = make_app(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("r")
        await pilot.pause()
        assert "No runs under runs yet" in text(app)


async def test_a_run_without_checkpoint_opens_without_interpolation(prepared_run, runs_dir, text, until):
    app = make_app(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("r", "enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RunDetailScreen)
        assert [e[0] for e in screen.query_one(LossChart).epochs] == [1, 2]
        strip = screen.query_one(DigitStrip)
        await until(pilot, lambda: "checkpoint.pt is missing" in strip.caption, 30, "the missing checkpoint note")
        assert strip.has_class("-error") and strip.frames is None
        assert "checkpoint.pt is missing" in text(app)
        assert screen.query_one(LatentScatter).points is None  # no latents.npz either


async def test_open_a_trained_run_and_decode_a_new_pair(trained_run, monkeypatch, until, text):
    monkeypatch.chdir(trained_run.path.parent.parent)
    app = make_app(runs_dir="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("r", "enter")
        screen = app.screen
        assert isinstance(screen, RunDetailScreen)
        strip = screen.query_one(DigitStrip)
        await until(pilot, lambda: screen.decoded is not None, 60, "the default interpolation")
        assert screen.decoded[0] == 0  # the run's own pair: first test image, first other digit
        assert strip.frames.shape == (10, 28, 28)
        scatter = screen.query_one(LatentScatter)
        assert scatter.points.shape == (800, 2)  # from latents.npz: 10,000 codes, subsampled
        assert [e[0] for e in screen.query_one(LossChart).epochs] == [1]

        await pilot.press("tab")  # the arrows move through epochs; Tab reaches the index fields
        assert app.focused.id == "pair-from"
        await pilot.press("ctrl+u", *"3", "tab", "ctrl+u", *"42", "enter")
        await until(pilot, lambda: screen.decoded == (3, 42), 30, "the new pair")
        assert "#3" in text(app) and "#42" in text(app)

        await pilot.press("shift+tab", "ctrl+u", *"99999", "enter")  # outside the test set
        await until(pilot, lambda: strip.has_class("-error"), 30, "the index error")
        assert strip.caption == "test index 99999 is outside the test set (0 to 9999)"
        assert strip.caption in text(app)
        assert screen.decoded == (3, 42) and strip.frames.shape == (10, 28, 28)  # the last good frames stay
