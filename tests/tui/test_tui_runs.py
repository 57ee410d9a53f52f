"""The runs screen and a run's own screen, from files on disk."""

from __future__ import annotations

import pytest

from typer.testing import CliRunner

from core.cli import app as cli_app
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


@pytest.mark.slow  # the fast loop's snapshot of this run view shows the missing checkpoint too
async def test_a_run_whose_checkpoint_cannot_load_opens_without_interpolation(prepared_run, runs_dir, text, until):
    app = make_app(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("r", "enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RunDetailScreen)
        assert [e[0] for e in screen.query_one(LossChart).epochs] == [1, 2]
        strip = screen.query_one(DigitStrip)
        await until(pilot, lambda: "checkpoint.pt is damaged" in strip.caption, 30, "the checkpoint's note")
        assert strip.has_class("-error") and strip.frames is None
        assert "checkpoint.pt is damaged" in " ".join(text(app).split())
        assert screen.query_one(LatentScatter).points is None  # no latents.npz either


async def test_a_stopped_run_without_its_checkpoint_is_damaged_on_every_face(prepared_run, runs_dir, text, until):
    from core.runfolder.runs import list_runs

    (prepared_run.path / "checkpoint.pt").unlink()
    reason = "checkpoint.pt is damaged: missing, though 2 epochs are done"
    (row,) = list_runs(runs_dir)  # what `aekl runs --json` prints
    assert row["status"] == "damaged" and reason in row["reason"]
    result = CliRunner().invoke(cli_app, ["train", "--resume", prepared_run.id, "--out", str(runs_dir)])
    assert result.exit_code == 2 and reason in result.stderr  # not "ended before its first epoch"
    app = make_app(runs_dir=runs_dir, attach=prepared_run.id)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.state == "damaged",
                    30, "the verdict")
        assert reason in " ".join(text(app).split())


@pytest.mark.slow  # the session's trained run trains MNIST
async def test_open_a_trained_run_and_decode_a_new_pair(trained_run, monkeypatch, until, text):
    monkeypatch.chdir(trained_run.path.parent.parent)
    app = make_app(runs_dir="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("r", "enter")
        screen = app.screen
        assert isinstance(screen, RunDetailScreen)
        strip = screen.query_one(DigitStrip)
        await until(pilot, lambda: screen.state == "finished", 60, "the replay")
        await until(pilot, lambda: strip.frames is not None, 60, "the last epoch's frames")
        # the last epoch's snapshot: the run's own pair (first test image, first other digit)
        assert strip.frames.shape == (10, 28, 28) and strip.caption.startswith("epoch 1: decoded line from test #0")
        scatter = screen.query_one(LatentScatter)
        assert scatter.points.shape == (800, 2)  # the epoch's 2,000 test codes, subsampled
        assert [e[0] for e in screen.query_one(LossChart).epochs] == [1]
        # 80x24: fewer, legible frames (14 pixels a side at least), paged with ] and [
        first = list(strip.shown)
        assert strip.side >= 14 and first[0] == 0 and 1 < len(first) < 10
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert strip.shown[0] == len(first) and f"{len(first) + 1}-" in text(app)
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert strip.shown == first

        # Tab cycles everything focusable: the board (arrows scrub there), the three fields, the board again
        order = []
        for _ in range(5):
            await pilot.press("tab")
            order.append(app.focused.id)
        assert order == ["board", "pair-from", "pair-to", "inspect-index", "board"]
        # Esc leaves a field before it leaves the screen
        await pilot.press("tab")
        assert app.focused.id == "pair-from"
        await pilot.press("escape")
        assert app.focused is None and app.screen is screen
        await pilot.press("tab", "tab")
        assert app.focused.id == "pair-from"
        await pilot.press("ctrl+u", *"3", "tab", "ctrl+u", *"42", "enter")
        await until(pilot, lambda: screen.decoded == (3, 42), 30, "the new pair")
        assert "#3" in text(app) and "#42" in text(app)
        assert app.focused is None  # Enter hands the keys back: ←/→ move through epochs again

        await pilot.press("tab", "tab", "ctrl+u", *"99999", "enter")  # outside the test set
        await until(pilot, lambda: strip.has_class("-error"), 30, "the index error")
        assert strip.caption == "test index 99999 is outside the test set (0 to 9999)"
        assert strip.caption in text(app)
        assert screen.decoded == (3, 42) and strip.frames.shape == (10, 28, 28)  # the last good frames stay


@pytest.mark.slow  # a real `aekl train` process
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
        screen = app.screen
        assert isinstance(screen, RunDetailScreen)
        board = screen.query_one(RunBoard)
        # the charts redraw at most every few seconds: wait for the last epoch to land
        await until(pilot, lambda: len(board.query_one(LossChart).epochs) == 3, 60, "the chart to show epoch 3")
        assert screen.state == "finished"
        assert [m.event.epoch for m in seen.values() if isinstance(m, RunEpoch)] == [1, 2, 3]
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


async def test_a_worker_that_fails_is_shown_and_the_app_keeps_running(prepared_run, runs_dir, text, until):
    """The decode worker meets a checkpoint that is not one (the fixture's stand-in
    zip): its error is shown where the frames would be, and every key still works."""
    app = make_app(runs_dir=runs_dir, attach=prepared_run.id)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen), 30, "the run's screen")
        screen = app.screen
        strip = screen.query_one(DigitStrip)
        await until(pilot, lambda: strip.has_class("-error"), 60, "the decode worker's error")
        assert "checkpoint.pt" in strip.caption and "damaged" in strip.caption and strip.frames is None
        assert "Traceback" not in text(app)
        await pilot.press("escape")  # the keys still work: back to the start screen
        await until(pilot, lambda: app.screen is app.get_default_screen(), 30, "the start screen")


@pytest.mark.slow  # the list in the fast loop: the tests above
async def test_runs_are_listed_newest_first_by_start_time(runs_dir, text, until):
    import os

    from core.config import AEConfig
    from core.runfolder.runs import new_run

    for name, started in (("zzz-first", 1_700_000_000), ("aaa-second", 1_700_000_100)):
        run = new_run(AEConfig(hidden=(64, 32), epochs=5, subset=512), runs_dir, name=name)
        os.utime(run.file("config.json"), (started, started))  # written once, as the run began
    app = make_app(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("r")
        table = app.screen.query_one(RunList)
        await until(pilot, lambda: table.loaded, 30, "the runs list")
        assert [r["id"] for r in table.runs] == ["aaa-second", "zzz-first"]
        shown = text(app)
        assert shown.index("aaa-second") < shown.index("zzz-first")


async def test_a_damaged_run_says_so_where_its_pictures_would_be(trained_run, tmp_path, text, until):
    import shutil

    runs = tmp_path / "runs"
    shutil.copytree(trained_run.path, runs / "broken")
    (runs / "broken" / "status.json").write_text('{"status": "finished", "epochs_done": "x"')  # cut short
    app = make_app(runs_dir=runs)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("r")
        table = app.screen.query_one(RunList)
        await until(pilot, lambda: table.loaded, 30, "the runs list")
        assert "Open" in text(app).splitlines()[-1]  # the footer names Enter
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.state == "damaged",
                    60, "the verdict")
        await pilot.pause()
        shown = text(app)
        assert "the run is damaged" in shown and "no frames yet" not in shown
        assert app.screen.check_action("explore", ()) is False and "Explore" not in shown.splitlines()[-1]


async def test_a_long_run_name_leaves_room_for_the_status_at_80_columns(runs_dir, text, until):
    from core.config import AEConfig
    from core.runfolder.runs import new_run

    name = "a-rather-long-descriptive-run-name-for-a-sweep-lr0.003"
    new_run(AEConfig(hidden=(64, 32), epochs=5, subset=512), runs_dir, name=name)
    app = make_app(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("r")
        table = app.screen.query_one(RunList)
        await until(pilot, lambda: table.loaded, 30, "the runs list")
        row = next(line for line in text(app).splitlines() if "lr0.003" in line)
        assert row.split()[0].startswith("a-rather") and "…" in row  # shortened in the middle
        assert row.rstrip().endswith(table.snaps[0].status.word)  # the status still shows
        assert table.runs[0]["id"] == name  # only the cell is shortened


async def test_a_failed_run_says_why_for_as_long_as_it_is_open(prepared_run, runs_dir, text, until):
    prepared_run.write_status("failed", 2, 0, error="loss became NaN at epoch 2 step 7 (lower --lr)")
    app = make_app(runs_dir=runs_dir, attach=prepared_run.id)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.state == "failed",
                    30, "the failed state")
        app.clear_notifications()  # toasts go; the reason must stay on the screen
        await pilot.pause()
        assert "failed: loss became NaN at epoch 2 step 7 (lower --lr)" in text(app)
        # a failed run may continue from its checkpoint (with a lower --lr, say)
        assert app.screen.check_action("resume", ()) is True and "Continue" in text(app)


async def test_explore_the_latent_plane_with_a_cursor(trained_run, monkeypatch, until, text):
    import numpy as np
    import torch

    from core.nn.latent import decode
    from core.nn.models import load_trained
    from core.runfolder.runs import open_run
    from tui.widgets.run_board import RunBoard

    monkeypatch.chdir(trained_run.path.parent.parent)
    app = make_app(runs_dir="runs", attach=trained_run.id)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.state == "finished",
                    60, "the replay")
        screen = app.screen
        scatter, strip = screen.query_one(LatentScatter), screen.query_one(DigitStrip)
        await until(pilot, lambda: scatter.points is not None, 30, "the codes")
        await pilot.press("e")
        lo, hi = scatter.points.min(axis=0), scatter.points.max(axis=0)
        assert scatter.cursor == pytest.approx(((lo + hi) / 2).tolist())  # starts in the middle
        await pilot.press("right", "right", "up")  # arrows move the cursor, not the epochs
        step = (hi - lo) / 20
        where = ((lo + hi) / 2 + step * np.array([2, 1])).tolist()
        assert scatter.cursor == pytest.approx(where)
        await until(pilot, lambda: "decoder at z" in strip.caption and strip.frames is not None
                    and len(strip.frames) == 1 and f"{where[0]:.3g}" in strip.caption, 60, "the decoded point")
        model, _ = load_trained(open_run(trained_run.id, trained_run.path.parent), "cpu")
        expected = decode(model, torch.tensor([where], dtype=torch.float32)).reshape(28, 28).numpy()
        assert np.allclose(strip.frames[0], expected, atol=1e-5)
        assert "✚ cursor" in text(app)
        await pilot.press("escape")  # leaves exploring, not the screen
        assert app.screen is screen and scatter.cursor is None and not screen.exploring
        # pick test images from the plane: the nearest code to the cursor is an end of the decoded line
        codes = screen.query_one(RunBoard).epochs[-1].codes
        nearest = int(np.argmin(np.linalg.norm(codes - np.array(where), axis=1)))
        await pilot.press("e")
        footer = text(app).splitlines()[-1]
        assert "Move" in footer and "Pick" in footer and "Leave" in footer and "Epoch" not in footer
        await pilot.press("right", "right", "up", "enter")
        await pilot.pause()
        assert screen.exploring and screen.picked == nearest and screen.decoded is None  # one end: wait for the other
        assert f"picked test #{nearest}" in text(app)
        other = ((lo + hi) / 2 + step * np.array([-8, -6])).tolist()
        far = int(np.argmin(np.linalg.norm(codes - np.array(other), axis=1)))
        assert far != nearest
        await pilot.press(*["left"] * 10, *["down"] * 7, "enter")
        await until(pilot, lambda: screen.decoded == (nearest, far), 60, "the line between the two picks")
        assert f"#{nearest}" in strip.caption and f"#{far}" in strip.caption
        assert not screen.exploring and "Epoch" in text(app).splitlines()[-1]  # the arrows are the epochs' again
