"""Shared fixtures: a private MNIST cache, small data subsets, tiny configs.

The cache lives in a per-session temp folder (filled once from the bundled
copy) so tests never touch ~/.cache and subprocesses inherit it via the env.

pytest runs on every core (pyproject's addopts: pytest-xdist); `-n 0` runs in
one process, for a debugger or a single test.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
_CACHE = Path(tempfile.mkdtemp(prefix="aekl-test-cache-"))
os.environ["AEKL_CACHE_DIR"] = str(_CACHE)
os.environ.pop("AEKL_DATA_DIR", None)
if os.environ.get("PYTEST_XDIST_WORKER"):
    # A worker per core already: one torch thread each (and in the trainers and
    # figure children they start, which inherit the env), or two workers'
    # thread pools fight over the same cores and timed tests starve.
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_var, "1")


@pytest.fixture(scope="session")
def made_once(tmp_path_factory):
    """`made_once(name, make)`: a folder that `make(folder)` fills once per test
    session, even when pytest-xdist runs several workers: the first to ask
    makes it under a lock, the others wait and share it. Tests only read it
    (or copy it): it is the same folder for every test in every worker."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's folder, above every worker's own

    def made(name: str, make) -> Path:
        folder, done = base / f"once-{name}", base / f"once-{name}.done"
        with open(base / f"once-{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not done.is_file():
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir()
                make(folder)
                done.touch()
        return folder

    return made


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
