"""Training from the TUI: the real engine on a small MNIST subset, driven by keys."""

from __future__ import annotations

import pytest

from core.runs import Run, list_runs
from core.train import Finished, Stopped
from tui.app import make_app
from tui.screens.confirm import Confirm
from tui.widgets.digit_strip import DigitStrip
from tui.widgets.latent_scatter import LatentScatter
from tui.widgets.loss_chart import LossChart
from tui.widgets.status_bar import StatusBar

pytestmark = pytest.mark.asyncio

PNGS = ("loss.png", "latent.png", "interpolation.png", "reconstructions.png", "manifold.png")


def only_run(runs_dir) -> Run:
    rows = list_runs(runs_dir)
    assert len(rows) == 1, rows
    return Run(runs_dir / rows[0]["id"])


async def test_a_run_started_from_the_keyboard_fills_every_widget(runs_dir, text, until):
    app = make_app(runs_dir=runs_dir, epochs=1, hidden=(64, 32), batch_size=64)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.train_screen
        # Tab to the subset field (latent, kind, epochs, batch, lr, subset), type, Enter starts
        await pilot.press(*["tab"] * 6)
        assert app.focused.id == "f-subset"
        await pilot.press(*"512", "enter")
        # (a warm process may finish this tiny run while the key is still being processed)
        await until(pilot, lambda: screen.milestones and not screen.training, 120, "training to end")
        await pilot.pause(2.2)  # let the throttled redraws (every two seconds) land

        assert isinstance(screen.last_event, Finished)
        chart = screen.query_one(LossChart)
        assert len(chart.steps) == 8  # 512 / 64 steps, one Progress per step
        # drawn on mount, cleared at the start, then at least once with data
        assert [e[0] for e in chart.epochs] == [1] and chart.draws >= 3
        scatter = screen.query_one(LatentScatter)
        assert scatter.points.shape == (800, 2) and set(scatter.labels) == set(range(10))
        assert scatter.caption == "latent z1, z2" and scatter.draws >= 3
        strip = screen.query_one(DigitStrip)
        assert strip.frames.shape == (10, 28, 28)
        assert len(strip.shown) >= 7 and strip.shown[0] == 0 and strip.shown[-1] == 9 and strip.side >= 8

        run = only_run(runs_dir)
        assert run.config().subset == 512 and run.config().epochs == 1
        assert run.status()["status"] == "finished"
        for name in PNGS:
            assert run.file(name).stat().st_size > 1000, name
        shown = text(app)
        assert "finished" in shown and "epoch 1/1" in shown and run.id[:12] in shown


# Far more epochs than a test waits for: the stop key always lands mid-run. Few
# steps per epoch keep the message rate low, so the pilot's key presses (which
# wait for the app to be idle) are not held up.
LONG = dict(subset=2048, batch_size=256, epochs=200)


async def test_stop_mid_run_saves_a_checkpoint_and_the_runs_screen_resumes_it(runs_dir, text, until, press_busy):
    app = make_app(runs_dir=runs_dir, **LONG)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.train_screen
        await pilot.press("s")
        await until(pilot, lambda: screen.progress_seen >= 1, 120, "the first progress message")
        await press_busy(pilot, "x")
        await until(pilot, lambda: not screen.training, 120, "the stop to finish")

        stopped = screen.last_event
        assert isinstance(stopped, Stopped) and stopped.epoch < 200
        run = only_run(runs_dir)
        assert run.file("checkpoint.pt").is_file() and run.file("interpolation.png").is_file()
        status = run.status()
        assert (status["status"], status["epoch"], status["step"]) == ("stopped", stopped.epoch, stopped.step)
        assert len(run.metrics()) == stopped.epoch
        shown = text(app)
        assert "stopped" in shown and "resume" in shown

        # runs screen: the run is listed as stopped; c continues it on the training screen
        await pilot.press("r")
        await pilot.pause()
        assert "stopped" in text(app) and run.id in text(app)
        await pilot.press("c")
        await until(pilot, lambda: screen.progress_seen >= 1, 120, "the resumed run to train")
        assert app.screen is screen
        started = screen.milestones[0]
        assert (started.run_dir, started.start_epoch, started.start_step) == (str(run.path), stopped.epoch, stopped.step)
        await press_busy(pilot, "x")
        await until(pilot, lambda: not screen.training, 120, "the second stop")
        again = screen.last_event
        assert isinstance(again, Stopped) and (again.epoch, again.step) >= (stopped.epoch, stopped.step)
        assert [m["epoch"] for m in run.metrics()] == list(range(1, again.epoch + 1))
        # the chart shows the epochs from before the first stop as well as after it
        assert [e[0] for e in screen.query_one(LossChart).epochs] == list(range(1, again.epoch + 1))


async def test_quit_while_training_asks_then_stops_cleanly(runs_dir, until, press_busy):
    app = make_app(runs_dir=runs_dir, start=True, **LONG)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.train_screen
        await until(pilot, lambda: screen.progress_seen >= 1, 120, "training (--start)")
        await press_busy(pilot, "q")
        await until(pilot, lambda: isinstance(app.screen, Confirm), 10, "the question")
        await press_busy(pilot, "n")  # keep training
        await until(pilot, lambda: app.screen is screen, 10, "the question to close")
        assert screen.training
        await press_busy(pilot, "q")
        await until(pilot, lambda: isinstance(app.screen, Confirm), 10, "the question")
        await press_busy(pilot, "y")
        await until(pilot, lambda: app.return_code is not None, 120, "the app to exit")
    run = only_run(runs_dir)
    assert run.status()["status"] == "stopped" and run.file("checkpoint.pt").is_file()
    assert len(run.metrics()) < 200


async def test_bad_form_value_is_marked_and_nothing_starts(runs_dir, text):
    app = make_app(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("tab", "0")
        await pilot.pause()
        field = app.screen.query_one("#f-latent")
        assert field.has_class("-invalid")
        note = app.screen.query_one("#form-note")
        assert str(note.content) == "latent size must be at least 1, got 0"
        assert "latent size must be" in text(app)  # on screen, shortened to fit
        await pilot.press("escape", "s")
        await pilot.pause()
        assert not app.train_screen.training
        assert "latent size must be at least 1" in app.train_screen.query_one(StatusBar).text
        await pilot.press("tab", "3")
        await pilot.pause()
        assert not field.has_class("-invalid")
    assert not runs_dir.exists()  # nothing was created


async def test_worker_errors_are_shown_and_the_app_keeps_running(runs_dir, tmp_path, text, until, monkeypatch):
    # a user error (AeklError): a data folder that does not exist
    app = make_app(runs_dir=runs_dir, data_dir=tmp_path / "nowhere", subset=512, epochs=1)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.train_screen
        await pilot.press("s")
        await until(pilot, lambda: not screen.training, 60, "the worker to fail")
        await pilot.pause()
        status = screen.query_one(StatusBar)
        assert status.fields["state"] == "failed" and "does not exist" in status.text
        assert any("does not exist" in str(n.message) for n in app._notifications)

        # a bug (any other exception) is reported the same way
        import tui.trainer

        def boom(*args, **kwargs):
            raise RuntimeError("boom")

        monkeypatch.setattr(tui.trainer, "_train", boom)
        await pilot.press("s")
        await until(pilot, lambda: status.fields["state"] == "failed" and "boom" in status.text, 30, "the bug report")
        assert "RuntimeError: boom" in status.text
        # still alive: other screens open and close
        await pilot.press("k")
        await pilot.pause()
        assert "KL divergence" in text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
    assert not runs_dir.exists()
