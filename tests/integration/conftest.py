"""Fixtures shared by the integration tests."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

# The smallest run that still writes every file of a run folder.
TINY_TRAIN = ["--subset", "256", "--epochs", "1", "--hidden", "32", "--batch-size", "64"]


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory, figures_drawn):
    """One tiny finished run, trained once per session; tests damage copies of it."""
    from core.cli import app

    root = tmp_path_factory.mktemp("finished")
    result = CliRunner().invoke(app, ["train", *TINY_TRAIN, "--out", str(root), "--name", "r"])
    assert result.exit_code == 0, result.stderr
    figures_drawn(root / "r")
    return root / "r"
