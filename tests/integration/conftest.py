"""Fixtures shared by the integration tests."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

# The smallest run that still writes every file of a run folder.
TINY_TRAIN = ["--subset", "256", "--epochs", "1", "--hidden", "32", "--batch-size", "64"]


@pytest.fixture(scope="session")
def finished_run(made_once, figures_drawn):
    """One tiny finished run made by `aekl train`, once per session; tests damage copies of it."""
    from core.cli import app

    def train(root):
        result = CliRunner().invoke(app, ["train", *TINY_TRAIN, "--out", str(root), "--name", "r"])
        assert result.exit_code == 0, result.stderr
        figures_drawn(root / "r")

    return made_once("finished", train) / "r"


@pytest.fixture(scope="session")
def stopped_run(made_once):
    """A run of 2 epochs on 256 images stopped right after epoch 1 (its next
    batch order already drawn, its history written), once per session; tests
    resume or damage copies of it."""
    from core.config import AEConfig
    from core.data.mnist import load_mnist
    from core.engine.fit import fit
    from core.events import EpochEnd
    from core.runfolder.runs import new_run

    def train(root):
        config = AEConfig(hidden=(32,), epochs=2, batch_size=64, subset=256)
        run = new_run(config, root, name="r")
        seen = []
        for event in fit(config, load_mnist(subset=256), run=run, should_stop=lambda: bool(seen)):
            if isinstance(event, EpochEnd):
                seen.append(event)
        assert run.status()["status"] == "stopped" and (run.path / "history" / "epoch-0001.npz").is_file()

    return made_once("stopped", train) / "r"
