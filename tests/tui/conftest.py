"""Fixtures for the Textual tests: a runs folder in a temp cwd, prepared runs,
and helpers to wait for the app and read its screen as text.

MNIST comes from the session cache that tests/conftest.py sets up
(AEKL_CACHE_DIR), filled from the bundled copy.
"""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

import pytest

FIXED_RUN = "20240101-120000-ae-z2"


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    """A relative runs folder inside a temp cwd: paths on screen stay short and fixed.

    Afterwards no trainer a test started is left running (a failed test would
    otherwise leave a 200-epoch run eating the CPU of every test after it)."""
    monkeypatch.chdir(tmp_path)
    yield Path("runs")
    _kill_trainers(tmp_path / "runs")


def _kill_trainers(root: Path) -> None:
    import os
    import signal

    from core.runfolder.control import trainer_pid
    from core.errors import AeklError
    from core.runfolder.runs import Run

    for folder in root.glob("*") if root.is_dir() else []:
        try:
            os.kill(trainer_pid(Run(folder)), signal.SIGKILL)
        except (AeklError, OSError):
            pass


@pytest.fixture
def prepared_run(runs_dir):
    """A stopped run with two epochs of metrics, under a fixed name. Its
    checkpoint.pt is a stand-in: a zip, as torch.save writes, so the run lists
    as stopped, but holding no weights, so loading it says it is damaged."""
    from core.config import AEConfig
    from core.runfolder.runs import new_run
    from standin import stand_in_checkpoint

    run = new_run(AEConfig(hidden=(64, 32), epochs=5, subset=512), runs_dir, name=FIXED_RUN)
    for epoch, (train, test) in enumerate([(0.2, 0.1876), (0.15, 0.1234)], start=1):
        run.append_metrics({"epoch": epoch, "train_loss": train, "train_mse": train, "test_loss": test,
                            "test_mse": test, "seconds": 1.0, "samples_per_s": 512.0, "lr": 0.003})
    stand_in_checkpoint(run.file("checkpoint.pt"))
    run.write_status("stopped", 2, 0)
    return run


@pytest.fixture(scope="session")
def trained_run(made_once):
    """A real (tiny) finished run: checkpoint, latents.npz, metrics, PNGs, at
    runs/tiny under a folder of its own, made once a session and shared:
    tests look at it, never change it."""
    from core.config import AEConfig
    from core.data.mnist import load_mnist
    from core.engine.fit import fit
    from core.runfolder.runs import Run, new_run

    def train(root):
        config = AEConfig(hidden=(64, 32), epochs=1, batch_size=64, subset=512)
        run = new_run(config, root / "runs", name="tiny")
        for _ in fit(config, load_mnist(subset=512), run=run):
            pass

    return Run(made_once("trained", train) / "runs" / "tiny")


_CELL = re.compile(r'<text [^>]*?x="([0-9.]+)"[^>]*?clip-path="url\(#[^)]*-line-(\d+)\)">(.*?)</text>', re.S)


def screen_text(app) -> str:
    """The screen as plain text, as a terminal would show it, read from the
    public SVG screenshot (each cell is 12.2 units wide in Textual's export)."""
    rows: dict[int, dict[int, str]] = {}
    for x, line, body in _CELL.findall(app.export_screenshot()):
        col = round(float(x) / 12.2)
        for k, ch in enumerate(html.unescape(body).replace("\xa0", " ").rstrip("\n")):
            rows.setdefault(int(line), {})[col + k] = ch
    lines = []
    for n in range(app.size.height):
        cells = rows.get(n, {})
        lines.append("".join(cells.get(c, " ") for c in range(app.size.width)).rstrip())
    return "\n".join(lines)


async def wait_for(pilot, condition, timeout: float = 60.0, what="condition") -> None:
    """Let the app run until `condition()` holds; fail after `timeout` seconds.
    `what` names the wait; a callable is asked only on failure (for state worth showing)."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            what = what() if callable(what) else what
            raise AssertionError(f"timed out waiting for {what}; the screen:\n{screen_text(pilot.app)}")
        await pilot.pause(0.02)


@pytest.fixture
def text():
    return screen_text


@pytest.fixture
def until():
    return wait_for
