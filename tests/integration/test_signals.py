"""Real signals to a real `aekl train` process: stop cleanly, resume to the same weights."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import torch

ARGS = ["train", "--subset", "1024", "--batch-size", "64", "--epochs", "4", "--hidden", "128,64",
        "--kind", "vae", "--json"]
LAUNCH = [sys.executable, "-c", "from core.cli import app; app()"]

pytestmark = pytest.mark.slow  # real trainer processes


def start(*extra):
    return subprocess.Popen([*LAUNCH, *ARGS, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "AEKL_DEBUG": ""})


def weights(path):
    return torch.load(path / "checkpoint.pt", weights_only=True)["model"]


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_cleanly_and_resume_matches(tmp_path, sig, code):
    whole = start("--out", str(tmp_path), "--name", "whole")
    assert whole.wait(timeout=300) == 0, whole.stderr.read()

    proc = start("--out", str(tmp_path), "--name", "cut")
    for line in proc.stdout:  # wait until training is really under way
        if json.loads(line)["event"] == "Progress":
            proc.send_signal(sig)
            break
    rest, errors = proc.communicate(timeout=300)
    assert proc.returncode == code, errors
    assert json.loads(rest.splitlines()[-1])["event"] == "Stopped"
    assert "--resume cut" in errors
    run = tmp_path / "cut"
    assert json.loads((run / "status.json").read_text())["status"] == "stopped"
    for name in ("checkpoint.pt", "latent.png", "interpolation.png", "latents.npz"):
        assert (run / name).stat().st_size > 0, name

    resumed = subprocess.run([*LAUNCH, "train", "--resume", "cut", "--out", str(tmp_path), "--json"],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    a, b = weights(tmp_path / "whole"), weights(run)
    assert all(torch.equal(a[k], b[k]) for k in a)
    metrics = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == list(range(1, 5))
