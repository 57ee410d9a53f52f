"""Shared fixtures: a private MNIST cache, small data subsets, tiny configs.

The cache lives in a per-session temp folder (filled once from the bundled
copy) so tests never touch ~/.cache and subprocesses inherit it via the env.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
_CACHE = Path(tempfile.mkdtemp(prefix="aekl-test-cache-"))
os.environ["AEKL_CACHE_DIR"] = str(_CACHE)
os.environ.pop("AEKL_DATA_DIR", None)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_CACHE, ignore_errors=True)


@pytest.fixture(scope="session")
def mnist_small():
    """512 training images and the full test set, on the CPU."""
    from core.data.mnist import load_mnist

    return load_mnist(subset=512)


@pytest.fixture
def tiny_config():
    """A model small enough that an epoch on 512 images takes a blink."""
    from core.config import AEConfig

    return AEConfig(hidden=(64, 32), epochs=2, batch_size=64, subset=512, lr=3e-3)


@pytest.fixture(scope="session")
def figures_drawn():
    """`aekl train` draws a finished run's figures in a child after its final
    status: tests that copy or damage the folder wait for that child first."""
    from core.figures.background import wait_drawn
    from core.runfolder.runs import Run

    def wait(run_dir) -> None:
        assert wait_drawn(Run(Path(run_dir)), timeout=180), f"figures of {run_dir} still drawing after 180 s"

    return wait
