"""Every bad input gets exactly one line on stderr, exit code 2 and an empty stdout.

One table for all commands: add a row when a command learns a new option.
"""

from __future__ import annotations

import shutil

import pytest
import torch
from typer.testing import CliRunner

from core.cli import app
from core.data import ensure_data, raw_dir

runner = CliRunner()
TINY = ["--subset", "256", "--epochs", "1", "--hidden", "32", "--batch-size", "64"]
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present: the cuda device is valid here")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A runs root with one finished run, an empty folder, a file, and bad data folders."""
    root = tmp_path_factory.mktemp("world")
    runs = root / "runs"
    done = runner.invoke(app, ["train", *TINY, "--out", str(runs), "--name", "done"])
    assert done.exit_code == 0, done.stderr
    (runs / "not-a-run").mkdir()
    (root / "a-file").write_text("x")
    (root / "empty").mkdir()
    bad = root / "badmd5"
    shutil.copytree(raw_dir(ensure_data()), raw_dir(bad))
    with open(raw_dir(bad) / "train-labels-idx1-ubyte", "r+b") as f:
        f.seek(200)
        f.write(b"\x07")
    return root


CASES = [
    # (id, argv with {root}/{runs} placeholders, text the one line must contain[, marks])
    ("latent-0", ["train", "--latent", "0"], "latent size must be at least 1, got 0"),
    ("latent-neg", ["train", "--latent", "-3"], "got -3"),
    ("latent-text", ["train", "--latent", "two"], "'--latent' / '-z': Input should be a valid integer, unable to parse string as an integer (got 'two')"),
    ("epochs-0", ["train", "--epochs", "0"], "epochs must be at least 1, got 0"),
    ("batch-0", ["train", "--batch-size", "0"], "batch size must be at least 1, got 0"),
    ("batch-too-big", ["train", "--subset", "100", "--batch-size", "128"], "batch size 128 is larger than the 100"),
    ("lr-0", ["train", "--lr", "0"], "learning rate must be a positive number, got 0"),
    ("lr-neg", ["train", "--lr", "-0.1"], "got -0.1"),
    ("lr-nan", ["train", "--lr", "nan"], "got nan"),
    ("steps-4", ["train", "--steps", "4"], "at least 5 intermediate steps, got 4"),
    ("index-high", ["train", "--from-index", "10000"], "--from-index 10000 is outside the test set"),
    ("index-neg", ["train", "--to-index", "-1"], "--to-index -1 is outside the test set"),
    ("kind", ["train", "--kind", "gan"], "unknown model kind 'gan'"),
    ("activation", ["train", "--activation", "swish"], "unknown activation 'swish'"),
    ("hidden", ["train", "--hidden", "512,x"], "--hidden must be comma-separated integers"),
    ("subset-0", ["train", "--subset", "0"], "subset must be at least 1, got 0"),
    ("subset-big", ["train", "--subset", "70000"], "--subset must be between 1 and 60000, got 70000"),
    ("device", ["train", "--device", "tpu"], "unknown device 'tpu'"),
    ("cuda", ["train", "--device", "cuda"], "no CUDA GPU", NO_CUDA),
    ("data-missing", ["train", "--data-dir", "{root}/nope"], "nope does not exist"),
    ("data-empty", ["train", "--data-dir", "{root}/empty"], "lacks train-images-idx3-ubyte"),
    ("data-md5", ["train", "--data-dir", "{root}/badmd5"], "train-labels-idx1-ubyte does not match"),
    ("out-not-writable", ["train", *TINY, "--out", "{root}/a-file/runs"], "cannot create run folder"),
    ("name-exists", ["train", *TINY, "--out", "{runs}", "--name", "done"], "already exists (use --force"),
    ("name-path", ["train", "--name", "../escape"], "not a run id"),
    ("resume-unknown", ["train", "--resume", "ghost", "--out", "{runs}"], "no run named 'ghost'"),
    ("resume-not-run", ["train", "--resume", "not-a-run", "--out", "{runs}"], "is not an aekl run"),
    ("resume-finished", ["train", "--resume", "done", "--out", "{runs}"], "already finished"),
    ("resume-dotdot", ["train", "--resume", "..", "--out", "{runs}"], "not a run id"),
    ("show-unknown", ["show", "ghost", "--out", "{runs}"], "no run named 'ghost'"),
    ("show-absolute", ["show", "/etc", "--out", "{runs}"], "not a run id"),
    ("latent-unknown", ["latent", "ghost", "--out", "{runs}"], "no run named 'ghost'"),
    ("interp-unknown", ["interpolate", "ghost", "--out", "{runs}"], "no run named 'ghost'"),
    ("interp-steps", ["interpolate", "done", "--steps", "3", "--out", "{runs}"], "--steps must be at least 5, got 3"),
    ("interp-index", ["interpolate", "done", "--from-index", "12345", "--out", "{runs}"], "--from-index 12345 is outside"),
    ("interp-method", ["interpolate", "done", "--method", "zigzag", "--out", "{runs}"], "unknown interpolation method"),
    ("unknown-option", ["train", "--latnet", "2"], "No such option"),
]


@pytest.mark.parametrize("argv, needle", [pytest.param(c[1], c[2], id=c[0], marks=c[3:]) for c in CASES])
def test_bad_input_is_one_line_and_exit_2(world, argv, needle):
    argv = [a.format(root=world, runs=world / "runs") for a in argv]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]
    assert result.stdout == ""
