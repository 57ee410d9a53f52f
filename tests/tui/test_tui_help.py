"""Help: F1 or ? opens it, and it lists every key of every screen."""

from __future__ import annotations

import pytest
from textual.widgets import Markdown

from tui.app import make_app
from tui.screens.help import HelpScreen
from tui.screens.kl import KLScreen
from tui.screens.run_detail import RunDetailScreen
from tui.screens.runs import RunsScreen
from tui.screens.training import TrainScreen

pytestmark = pytest.mark.asyncio


async def test_f1_opens_help_listing_every_binding(runs_dir):
    app = make_app(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        source = app.screen.query_one(Markdown).source
        for cls in (TrainScreen, RunsScreen, RunDetailScreen, KLScreen, type(app)):
            for binding in cls.BINDINGS:
                assert f"`{app.get_key_display(binding)}" in source or f", {app.get_key_display(binding)}`" in source
                assert (binding.tooltip or binding.description) in source
        # the keys the issue found missing, by name
        for key in ("←", "→", "home", "end", "^n", "^r", "^t", "[", "]"):
            assert f"`{key}" in source or f" {key}`" in source, key
        assert "| `x` | stop the run" in source
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, TrainScreen)
