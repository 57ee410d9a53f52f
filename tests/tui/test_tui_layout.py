"""80x24 layout details: overlays that read as overlays."""

from __future__ import annotations

import pytest

from tui.app import make_app

pytestmark = pytest.mark.asyncio


async def test_the_open_kind_list_is_framed_not_mixed_into_the_device_label(runs_dir, text):
    app = make_app(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("tab", "tab")
        assert app.focused.id == "f-kind"
        await pilot.press("enter")
        await pilot.pause()
        lines = text(app).splitlines()
        assert any("│ae " in line for line in lines) and any("│vae " in line for line in lines)
        assert not any("devica" in line for line in lines)  # the label is covered, not interleaved
