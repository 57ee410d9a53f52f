"""The stop key's action (tui.control) on a run nobody trains, and the VAE
traversals screen drawn from given images."""

from __future__ import annotations

import numpy as np
import pytest

from core.nn.latent import TRAVERSAL_VALUES
from tui.app import make_app
from tui.control import stop_run
from tui.screens.traversals import TraversalScreen

pytestmark = pytest.mark.asyncio


async def test_stopping_a_run_without_a_trainer_says_why_and_signals_nobody(prepared_run, runs_dir, until):
    seen: list = []
    app = make_app(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        assert stop_run(app.screen, str(prepared_run.path)) is False

        def notes() -> list:
            return [m.notification for m in seen if type(m).__name__ == "Notify"]

        await until(pilot, notes, 30, "the notification")
        (note,) = notes()
        assert note.title == "Cannot stop" and note.severity == "warning"
        assert note.message == f"run {prepared_run.id} is not training (status: stopped)"


async def test_traversal_rows_go_largest_kl_first(runs_dir, text):
    latent, count = 3, len(TRAVERSAL_VALUES)
    # row r (dimension order[r]): a flat grey that brightens along the row, so every cell is drawn
    images = np.stack([np.stack([np.full(784, -1 + 2 * i / (count - 1)) for i in range(count)])] * latent)
    kl = [0.5, 0.125, 2.0]
    app = make_app(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(TraversalScreen([2, 0, 1], images, kl, index=7, digit=3))
        await pilot.pause()
        screen = app.screen
        labels = [str(s.content) for s in screen.query(".traversal-label")]
        assert labels == ["z3 KL 2.00", "z1 KL 0.50", "z2 KL 0.12"]
        assert len(screen.query(".traversal-row")) == latent
        shown = text(app).splitlines()
        assert shown[0].strip() == "traversals of test #7 (a 3): a row per dimension, largest KL first"
        # at 80 columns five of the nine values are drawn, each named over its column
        assert shown[1].split() == ["-3σ", "-1.5σ", "0", "+1.5σ", "+3σ"]
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.get_default_screen()
