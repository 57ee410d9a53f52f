"""`aekl train` leaves a finished run's figures to a child process that holds the
run's lock while it draws; readers that need the figures wait for it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest
from PIL import Image

from core.config import AEConfig
from core.figures.background import figure_files, wait_drawn
from core.figures.plots import save_run_figures
from core.nn.latent import interpolation_pair
from core.nn.models import build_model
from core.runfolder.lock import holder
from core.runfolder.runs import new_run, open_run

# Each case trains or starts processes: left out of the fast loop.
pytestmark = pytest.mark.slow


def test_train_exits_before_its_figures_and_they_follow(tmp_path):
    args = ["--subset", "256", "--epochs", "1", "--hidden", "32", "--batch-size", "64", "--out", str(tmp_path),
            "--name", "bg", "--json"]
    done = subprocess.run([sys.executable, "-m", "core.cli", "train", *args], capture_output=True, text=True,
                          timeout=600, env=os.environ)
    assert done.returncode == 0, done.stderr
    finished = json.loads(done.stdout.splitlines()[-1])
    run = open_run("bg", tmp_path)
    status = run.status()
    assert status["status"] == "finished" and status["figures"] == "drawing"
    assert status["files"] == finished["files"] == figure_files(run, run.config())
    assert holder(run.path) is None  # finished: no writer, though the drawing child keeps the folder
    assert wait_drawn(run, timeout=300)
    for name, path in status["files"].items():
        assert os.path.getsize(path) > 0, name
    after = run.status()  # the child said so as it ended, and changed nothing else
    assert after["figures"] == "drawn" and {**after, "figures": "drawing"} == status
    assert Image.open(status["files"]["latent"]).size[0] >= 700


def test_the_expected_names_are_what_drawing_writes(tmp_path, mnist_small):
    for config in (AEConfig(latent=2, hidden=(16,)), AEConfig(latent=3, hidden=(16,)),
                   AEConfig(latent=3, hidden=(16,), kind="vae"), AEConfig(latent=2, hidden=(16,), kind="vae")):
        run = new_run(config, tmp_path)
        run.append_metrics({"epoch": 1, "train_loss": 0.5, "train_mse": 0.5, "test_loss": 0.5, "test_mse": 0.5,
                            "seconds": 1.0, "samples_per_s": 1.0, "lr": 1e-3})
        pair = interpolation_pair(mnist_small.test_y, None, None)
        drawn = save_run_figures(run, build_model(config).eval(), mnist_small, replace(config), pair)
        assert drawn == figure_files(run, config), config
