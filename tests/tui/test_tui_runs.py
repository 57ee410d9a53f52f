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


async def test_runs_screen_lists_a_prepared_run(prepared_run, runs_dir, text, until):
    app = make_app(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("r")
        table = app.screen.query_one(RunList)
        await until(pilot, lambda: table.loaded, 30, "the runs folder to be read")
        assert [r["id"] for r in table.runs] == [prepared_run.id]
        row = table.runs[0]
        assert (row["status"], row["epochs"], row["planned"], row["best_test_mse"]) == ("stopped", 2, 5, 0.1234)
        shown = text(app)
        assert prepared_run.id in shown and "2 of 5 done" in shown and "0.1234" in shown and "stopped" in shown
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.get_default_screen()


async def test_empty_runs_folder_says_how_to_make_one(runs_dir, text, until):
    app = make_app(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("r")
        await until(pilot, lambda: "No runs under runs yet" in text(app), 30, "the note")


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
        await until(pilot, lambda: screen.state == "finished", 60, "the replay")
        await pilot.pause(1.2)
        # the last epoch's snapshot: the run's own pair (first test image, first other digit)
        assert strip.frames.shape == (10, 28, 28) and strip.caption.startswith("epoch 1: decoded line from test #0")
        scatter = screen.query_one(LatentScatter)
        assert scatter.points.shape == (800, 2)  # the epoch's 2,000 test codes, subsampled
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


async def test_attach_follows_a_run_trained_by_another_process(runs_dir, until, text):
    """`aekl train` in its own process; the app attached to it draws every epoch live."""
    import subprocess
    import sys

    from tui.messages import RunEnded, RunEpoch
    from tui.widgets.run_board import RunBoard

    proc = subprocess.Popen([sys.executable, "-m", "core.cli", "train", "--subset", "1024", "--batch-size", "64",
                             "--hidden", "64,32", "--epochs", "3", "--out", str(runs_dir), "--name", "elsewhere"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    import time

    while not (runs_dir / "elsewhere" / "config.json").is_file():
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    seen: dict[int, object] = {}
    app = make_app(runs_dir=runs_dir, attach="elsewhere")
    async with app.run_test(size=(80, 24), message_hook=lambda m: seen.setdefault(id(m), m)) as pilot:
        await until(pilot, lambda: any(isinstance(m, RunEnded) for m in seen.values()), 300, "the run to end")
        await pilot.pause(2.2)
        screen = app.screen
        assert isinstance(screen, RunDetailScreen) and screen.state == "finished"
        assert [m.event.epoch for m in seen.values() if isinstance(m, RunEpoch)] == [1, 2, 3]
        board = screen.query_one(RunBoard)
        assert [e[0] for e in board.query_one(LossChart).epochs] == [1, 2, 3]
        assert board.query_one(LatentScatter).points.shape == (800, 2)
        assert board.query_one(DigitStrip).caption.startswith("epoch 3:")
        assert "elsewhere" in text(app) and "finished" in text(app)
        # history: home goes to epoch 1, right to 2, end back to the newest
        await pilot.press("home")
        assert board.shown_epoch == 1 and [e[0] for e in board.query_one(LossChart).epochs] == [1]
        await pilot.press("right")
        assert board.shown_epoch == 2 and "epoch 2" in text(app)
        await pilot.press("end")
        assert board.shown_epoch == 3
    assert proc.wait(timeout=60) == 0


async def test_the_runs_list_follows_the_folder_while_shown(prepared_run, runs_dir, until, text):
    """No key pressed: a run that gains an epoch and finishes, and a new run,
    show up in the list by themselves."""
    import json

    app = make_app(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("r")
        table = app.screen.query_one(RunList)
        await until(pilot, lambda: table.loaded, 30, "the runs list")
        assert "2 of 5 done" in text(app) and "stopped" in text(app)
        for epoch in (3, 4, 5):
            prepared_run.append_metrics({"epoch": epoch, "train_mse": 0.1, "test_mse": 0.0987, "seconds": 1.0,
                                         "samples_per_s": 512.0})
        prepared_run.file("status.json").write_text(json.dumps({"status": "finished", "epoch": 5, "step": 0}))
        await until(pilot, lambda: "5 of 5 done" in text(app), 30, "the list to change")
        row = table.runs[0]
        assert (row["status"], row["epochs"], row["best_test_mse"]) == ("finished", 5, 0.0987)
        assert "finished" in text(app) and "0.0987" in text(app)
