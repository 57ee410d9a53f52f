"""Training from the TUI: `aekl train` in a process of its own, followed through
its run folder, driven by keys. The app is observed through public API: its
widgets' data, the screen's text and the messages it handles (message_hook)."""

from __future__ import annotations

import pytest

from core.runfolder.control import wait_stopped
from core.events import Finished, Stopped
from core.runfolder.lock import holder
from core.runfolder.runs import Run, list_runs
from tui.app import make_app
from tui.messages import RunEnded, RunEpoch, RunProgress, RunStarted
from tui.screens.confirm import Confirm
from tui.widgets.digit_strip import DigitStrip
from tui.widgets.latent_scatter import LatentScatter
from tui.widgets.loss_chart import LossChart
from tui.widgets.run_board import RunBoard
from tui.widgets.status_bar import StatusBar

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]  # each test starts a real trainer process

PNGS = ("loss.png", "latent.png", "interpolation.png", "reconstructions.png", "manifold.png")
# Far more epochs than a test waits for: the stop key always lands mid-run.
LONG = dict(subset=2048, batch_size=256, epochs=200, hidden=(64, 32))


class Seen:
    """Every message the app handles, once each (a bubbling message reaches
    several pumps), for message_hook."""

    def __init__(self) -> None:
        self.messages: list = []
        self._ids: set[int] = set()

    def __call__(self, message) -> None:
        if id(message) not in self._ids:
            self._ids.add(id(message))
            self.messages.append(message)

    def of(self, kind) -> list:
        return [m for m in self.messages if isinstance(m, kind)]

    def notes(self) -> list[str]:
        return [str(m.notification.message) for m in self.messages if type(m).__name__ == "Notify"]


def only_run(runs_dir) -> Run:
    rows = list_runs(runs_dir)
    assert len(rows) == 1, rows
    return Run(runs_dir / rows[0]["id"])


def children() -> dict[int, tuple[str, str]]:
    """This process's children, running or ended but not waited for: pid -> (state, command name)."""
    import os
    from pathlib import Path

    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, tail = stat.read_text().rsplit(")", 1)
        except (OSError, ValueError):
            continue
        fields = tail.split()
        if int(fields[1]) == os.getpid():
            found[int(stat.parent.name)] = (fields[0], head.split("(", 1)[-1])
    return found


async def test_a_run_started_from_the_keyboard_fills_every_widget(runs_dir, text, until):
    seen = Seen()
    app = make_app(runs_dir=runs_dir, epochs=2, hidden=(64, 32), batch_size=64)
    # Only children born during this test are the app's to reap: a worker may still hold an
    # earlier test's child, running now and ending (unwaited) while this test runs.
    earlier = set(children())
    new_zombies = lambda: {pid: name for pid, (state, name) in children().items()  # noqa: E731
                           if state == "Z" and pid not in earlier}
    async with app.run_test(size=(80, 24), message_hook=seen) as pilot:
        # Tab to the subset field (latent, kind, epochs, batch, lr, subset), type, Enter starts
        await pilot.press(*["tab"] * 6)
        assert app.focused.id == "f-subset"
        await pilot.press(*"512", "enter")
        await until(pilot, lambda: seen.of(RunEnded), 180, "the run to end")
        board = app.screen.query_one(RunBoard)
        chart = board.query_one(LossChart)
        # the charts redraw at most every few seconds: wait for the last epoch to land
        await until(pilot, lambda: [e[0] for e in chart.epochs] == [1, 2], 60, "the chart to show epoch 2")

        assert isinstance(seen.of(RunEnded)[0].event, Finished)
        assert len(seen.of(RunStarted)) == 1 and [m.event.epoch for m in seen.of(RunEpoch)] == [1, 2]
        assert len(chart.steps) == 16  # 512 / 64 steps per epoch, one Progress per step, two epochs
        assert [e[0] for e in chart.epochs] == [1, 2]
        scatter = board.query_one(LatentScatter)
        assert scatter.points.shape == (800, 2) and set(scatter.labels) == set(range(10))
        strip = board.query_one(DigitStrip)
        assert strip.frames.shape == (10, 28, 28) and strip.caption.startswith("epoch 2:")

        run = only_run(runs_dir)
        assert run.config().subset == 512 and run.config().epochs == 2
        assert run.status()["status"] == "finished"
        # the trainer draws the PNGs in a child after its final status
        await until(pilot, lambda: all(run.file(name).exists() for name in PNGS), 120, "the run's figures")
        for name in PNGS:
            assert run.file(name).stat().st_size > 1000, name
        shown = text(app)
        assert "finished" in shown and "2 of 2 done" in shown and run.id[:12] in shown
        assert "latent z1, z2" in shown and "loss (log)" in shown

        # history: back one epoch shows epoch 1's frames and a chart up to epoch 1
        await pilot.press("left")
        assert board.shown_epoch == 1 and [e[0] for e in chart.epochs] == [1]
        assert strip.caption.startswith("epoch 1:") and "history 1/2" in strip.caption
        await pilot.press("end")
        assert board.shown_epoch == 2 and [e[0] for e in chart.epochs] == [1, 2]
        # the trainer that ended is reaped by the app, not left <defunct>
        await until(pilot, lambda: not new_zombies(), 60, lambda: f"zombies {new_zombies()}")


async def test_stop_mid_run_saves_a_checkpoint_and_the_runs_screen_continues_it(runs_dir, text, until):
    seen = Seen()
    app = make_app(runs_dir=runs_dir, **LONG)
    async with app.run_test(size=(80, 24), message_hook=seen) as pilot:
        await pilot.press("s")
        await until(pilot, lambda: seen.of(RunEpoch), 180, "the first epoch")
        await pilot.press("x")
        await until(pilot, lambda: seen.of(RunEnded), 120, "the stop to finish")

        stopped = seen.of(RunEnded)[0].event
        assert isinstance(stopped, Stopped) and 1 <= stopped.epoch < 200
        run = only_run(runs_dir)
        assert run.file("checkpoint.pt").is_file() and run.file("interpolation.png").is_file()
        status = run.status()
        assert (status["status"], status["epoch"], status["step"]) == ("stopped", stopped.epoch, stopped.step)
        assert len(run.metrics()) == stopped.epoch
        assert wait_stopped(run, 30), holder(run.path)  # the process has let go of the run
        shown = text(app)
        assert "stopped" in shown and "resume" in shown

        # runs screen: listed as stopped; c continues it in a new process
        await pilot.press("r")
        await until(pilot, lambda: "stopped" in text(app) and run.id in text(app), 30, "the runs list")
        await pilot.press("c")
        await until(pilot, lambda: len(seen.of(RunStarted)) >= 2 and len(seen.of(RunProgress)) > 0
                    and seen.of(RunProgress)[-1].event.epoch > stopped.epoch, 300,
                    lambda: f"the continued run to train (notifications: {seen.notes()})")
        assert isinstance(app.screen, type(app.get_default_screen()))
        await pilot.press("x")
        await until(pilot, lambda: len(seen.of(RunEnded)) >= 2, 120, "the second stop")
        again = seen.of(RunEnded)[-1].event
        assert isinstance(again, Stopped) and (again.epoch, again.step) >= (stopped.epoch, stopped.step)
        assert [m["epoch"] for m in run.metrics()] == list(range(1, again.epoch + 1))
        # the board replays the epochs from before the first stop as well as after it
        board = app.screen.query_one(RunBoard)
        assert [e.epoch for e in board.epochs] == list(range(1, again.epoch + 1))
        assert wait_stopped(run, 30)


@pytest.mark.parametrize("answer", ["s", "l"])
async def test_quit_while_training_asks_stop_or_leave(runs_dir, until, text, answer):
    seen = Seen()
    app = make_app(runs_dir=runs_dir, start=True, **LONG)
    async with app.run_test(size=(80, 24), message_hook=seen) as pilot:
        await until(pilot, lambda: seen.of(RunProgress), 180, "training (--start)")
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, Confirm), 10, "the question")
        run_id = only_run(runs_dir).id
        assert f"Run {run_id} is still training" in text(app)  # the question names the run
        assert all(f"({key})" in text(app) for key in ("s", "l", "esc"))  # every button whole at 80x24
        await pilot.press("escape")  # cancel: keep watching
        await until(pilot, lambda: not isinstance(app.screen, Confirm), 10, "the question to close")
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, Confirm), 10, "the question")
        await pilot.press(answer)
        await until(pilot, lambda: app.return_code is not None, 30, "the app to exit")
    run = only_run(runs_dir)
    if answer == "l":  # left training: the process outlives the app; stop it the CLI's way
        assert holder(run.path) is not None and run.state() == "running"
        # printed on exit: the run and the line that watches it again (runs/ is the default --out)
        assert app.return_value == f"Run {run.id} is still training. Watch it again with:\n  aekl-tui --attach {run.id}"
        from core.runfolder.control import request_stop

        request_stop(run)
    assert wait_stopped(run, 120)
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
        status = app.screen.query_one(StatusBar).text  # the line as drawn: state word, then the error
        assert status.split()[0] == "idle" and "latent size must be at least 1" in status
        await pilot.press("tab", "3")
        await pilot.pause()
        assert not field.has_class("-invalid")
    assert not runs_dir.exists()  # nothing was created


async def test_launch_errors_are_shown_and_the_app_keeps_running(runs_dir, tmp_path, text, until, monkeypatch):
    seen = Seen()
    # a user error: a data folder that does not exist; the process says so and exits 2
    app = make_app(runs_dir=runs_dir, data_dir=tmp_path / "nowhere", subset=512, epochs=1)
    async with app.run_test(size=(80, 24), message_hook=seen) as pilot:
        screen = app.screen
        await pilot.press("s")
        status = screen.query_one(StatusBar)
        await until(pilot, lambda: status.text.split()[:1] == ["failed"], 120, "the launch to fail")
        assert "does not exist" in status.text and "Traceback" not in status.text
        # the notification is a message of its own: it may land a moment after the status line
        await until(pilot, lambda: any("does not exist" in n for n in seen.notes()), 10, "the notification")

        # a process that cannot even start is reported the same way
        import tui.launcher

        def refuse(*args, **kwargs):
            raise OSError(24, "Too many open files")

        monkeypatch.setattr(tui.launcher, "launch", refuse)
        await pilot.press("s")
        await until(pilot, lambda: "Too many open files" in status.text, 30, "the start failure")
        # still alive: other screens open and close
        await pilot.press("k")
        await pilot.pause()
        assert "KL divergence" in text(app)
        await pilot.press("escape", "escape")  # the μ field, then the screen
        await pilot.pause()
        assert app.screen is screen
    assert not runs_dir.exists()
