"""`aekl-tui --attach NAME` for a run that does not exist yet: it says it is
waiting, follows the run once its folder appears, and gives up after a limit."""

from __future__ import annotations

import json

import pytest

from core.config import AEConfig
from core.runfolder.runs import new_run
from standin import stand_in_checkpoint
from tui.app import make_app, parse_options

pytestmark = pytest.mark.asyncio


async def test_attach_waits_for_a_run_being_created(runs_dir, until, text):
    assert parse_options(["--attach", "race", "--out", str(runs_dir)])["attach"] == "race"  # not refused
    app = make_app(runs_dir=runs_dir, attach="race")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await until(pilot, lambda: "waiting for run race" in screen.reason, 30, "the waiting note")
        assert "waiting for run race" in text(app)
        run = new_run(AEConfig(hidden=(32,), epochs=2, subset=512), runs_dir, name="race")
        run.append_metrics({"epoch": 1, "train_mse": 0.2, "test_mse": 0.125, "seconds": 1.0, "samples_per_s": 9.0})
        stand_in_checkpoint(run.file("checkpoint.pt"))
        run.file("status.json").write_text(json.dumps({"status": "stopped", "epoch": 1, "step": 0}))
        await until(pilot, lambda: screen.state is not None and screen.state.ended, 30, "the run to be read")
        assert str(screen.state) == "stopped" and screen.reason == ""
        assert "stopped  1 of 2 done" in text(app).splitlines()[0]


async def test_attach_gives_up_after_its_limit(runs_dir, until, text, monkeypatch):
    import tui.screens.run_detail as detail

    monkeypatch.setattr(detail, "ATTACH_WAIT_S", 1.0)
    app = make_app(runs_dir=runs_dir, attach="never")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.missing, 30, "the limit")
        assert "no run named 'never' appeared under runs within 1s" in screen.reason
        assert "missing" in text(app).splitlines()[0]
        assert screen.check_action("stop", ()) is False
