"""Fixtures for the Textual tests: a runs folder in a temp cwd, prepared runs,
and helpers to wait for the app and read its screen as text.

MNIST comes from the session cache that tests/conftest.py sets up
(AEKL_CACHE_DIR), filled from the bundled copy.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from rich.console import Console

FIXED_RUN = "20240101-120000-ae-z2"


@pytest.fixture
def runs_dir(tmp_path, monkeypatch) -> Path:
    """A relative runs folder inside a temp cwd: paths on screen stay short and fixed."""
    monkeypatch.chdir(tmp_path)
    return Path("runs")


@pytest.fixture
def prepared_run(runs_dir):
    """A stopped run with two epochs of metrics and no checkpoint, under a fixed name."""
    from core.config import AEConfig
    from core.runs import new_run

    run = new_run(AEConfig(hidden=(64, 32), epochs=5, subset=512), runs_dir, name=FIXED_RUN)
    for epoch, (train, test) in enumerate([(0.2, 0.1876), (0.15, 0.1234)], start=1):
        run.append_metrics({"epoch": epoch, "train_loss": train, "train_mse": train, "test_loss": test,
                            "test_mse": test, "seconds": 1.0, "samples_per_s": 512.0, "lr": 0.003})
    run.write_status("stopped", 2, 0)
    return run


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A real (tiny) finished run: checkpoint, latents.npz, metrics, PNGs."""
    from core.config import AEConfig
    from core.data import load_mnist
    from core.runs import new_run
    from core.train import fit

    root = tmp_path_factory.mktemp("trained") / "runs"
    config = AEConfig(hidden=(64, 32), epochs=1, batch_size=64, subset=512)
    run = new_run(config, root, name="tiny")
    for _ in fit(config, load_mnist(subset=512), run=run):
        pass
    return run


def screen_text(app) -> str:
    """The current screen as plain text, as a terminal would show it."""
    console = Console(width=app.size.width, height=app.size.height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


async def wait_for(pilot, condition, timeout: float = 60.0, what: str = "condition") -> None:
    """Let the app run until `condition()` holds; fail after `timeout` seconds."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}; the screen:\n{screen_text(pilot.app)}")
        await pilot.pause(0.02)


async def tap(pilot, *keys: str) -> None:
    """Press keys while the app is busy training.

    Pilot.press waits, after every key, until the process looks idle (at most
    a second, twice) and a training thread never lets it look idle. This sends
    the same Key events through the same driver, then only lets the app
    handle them.
    """
    from textual import events

    for key in keys:
        event = events.Key(key, key if len(key) == 1 else None)
        event.set_sender(pilot.app)
        pilot.app._driver.send_message(event)
        await pilot.pause(0.05)


@pytest.fixture
def press_busy():
    return tap


@pytest.fixture
def text():
    return screen_text


@pytest.fixture
def until():
    return wait_for
