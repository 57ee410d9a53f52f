"""aekl deletes or overwrites only what it made, and a dry run writes nothing."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.cli import app

runner = CliRunner()
TINY = ["--subset", "256", "--epochs", "1", "--hidden", "32", "--batch-size", "64"]


def snapshot(path: Path) -> dict[str, str]:
    """Every file under `path` (links not followed) with its bytes' hash."""
    out = {}
    for p in sorted(path.rglob("*")):
        if p.is_symlink():
            out[str(p.relative_to(path))] = "link->" + str(p.readlink())
        elif p.is_file():
            out[str(p.relative_to(path))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture
def home(tmp_path):
    docs = tmp_path / "Documents"
    docs.mkdir()
    (docs / "thesis.tex").write_text("my work")
    (docs / "config.json").write_text('{"not": "ours"}')  # a config.json that is not an aekl run's
    (tmp_path / "notes.txt").write_text("a file")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "keep.txt").write_text("keep")
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    return tmp_path


@pytest.mark.parametrize("name", ["Documents", "notes.txt", "link"])
def test_force_never_replaces_what_is_not_a_run(home, name):
    before = snapshot(home)
    result = runner.invoke(app, ["train", *TINY, "--out", str(home), "--name", name, "--force"])
    assert result.exit_code == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "not" in result.stderr
    assert snapshot(home) == before


@pytest.mark.slow  # trains
def test_force_replaces_a_run_but_keeps_files_it_did_not_make(tmp_path):
    first = runner.invoke(app, ["train", *TINY, "--out", str(tmp_path), "--name", "r", "--seed", "1"])
    assert first.exit_code == 0, first.stderr
    (tmp_path / "r" / "my-notes.txt").write_text("mine")
    (tmp_path / "r" / "interpolation-my-favourite.png").write_bytes(b"mine too")  # not a name aekl gives
    drawn = runner.invoke(app, ["interpolate", "r", "--from-index", "3", "--to-index", "5", "--out", str(tmp_path)])
    assert drawn.exit_code == 0 and (tmp_path / "r" / "interpolation-3-5-linear.png").is_file()
    again = runner.invoke(app, ["train", *TINY, "--out", str(tmp_path), "--name", "r", "--force", "--seed", "2"])
    assert again.exit_code == 0, again.stderr
    assert (tmp_path / "r" / "my-notes.txt").read_text() == "mine"
    assert (tmp_path / "r" / "interpolation-my-favourite.png").read_bytes() == b"mine too"
    assert not (tmp_path / "r" / "interpolation-3-5-linear.png").exists()  # the old run's picture went with it
    assert '"seed": 2' in (tmp_path / "r" / "config.json").read_text()


@pytest.mark.slow  # trains
def test_resume_dry_run_leaves_the_run_byte_identical(tmp_path, mnist_small):
    from core.config import AEConfig
    from core.runfolder.runs import new_run
    from core.engine.fit import fit

    config = AEConfig(hidden=(32,), epochs=3, batch_size=64, subset=512)
    calls = iter(range(10**6))
    run = new_run(config, tmp_path, name="r")
    list(fit(config, mnist_small, run=run, should_stop=lambda: next(calls) >= 11))  # stops in epoch 2
    assert run.state() == "stopped" and run.status()["epoch"] == 1
    before = snapshot(tmp_path)
    dry = runner.invoke(app, ["train", "--resume", "r", "--out", str(tmp_path), "--dry-run"])
    assert dry.exit_code == 0, dry.stderr
    assert "nothing written" in dry.stderr
    assert snapshot(tmp_path) == before


@pytest.mark.slow  # trains
def test_resume_refuses_options_that_would_change_the_run(tmp_path):
    made = runner.invoke(app, ["train", *TINY, "--out", str(tmp_path), "--name", "r"])
    assert made.exit_code == 0
    result = runner.invoke(app, ["train", "--resume", "r", "--out", str(tmp_path), "--epochs", "5", "--lr", "0.1"])
    assert result.exit_code == 2 and "--epochs, --lr" in result.stderr


def test_dry_run_writes_nothing(tmp_path):
    result = runner.invoke(app, ["train", *TINY, "--out", str(tmp_path / "runs"), "--dry-run"])
    assert result.exit_code == 0, result.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow  # two trainer processes
def test_two_writers_of_one_name_give_one_run_and_one_refusal(tmp_path):
    argv = [sys.executable, "-m", "core.cli", "train", "--subset", "1024", "--epochs", "2", "--hidden", "64,32",
            "--batch-size", "64", "--out", str(tmp_path), "--name", "twin", "--force"]
    # a first run makes the folder, so both of the racers below go the --force way
    assert subprocess.run(argv[:-1], capture_output=True).returncode == 0
    racers = [subprocess.Popen([*argv, "--seed", str(seed)], stderr=subprocess.PIPE, text=True) for seed in (5, 6)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in racers]
    codes = sorted(code for code, _ in results)
    refusals = [err for code, err in results if code == 2]
    assert codes in ([0, 2], [0, 0]), results  # [0, 0]: the second started after the first had finished
    for err in refusals:
        assert "in use by process" in err and len(err.strip().splitlines()) == 1
    config = (tmp_path / "twin" / "config.json").read_text()
    import torch

    ckpt = torch.load(tmp_path / "twin" / "checkpoint.pt", weights_only=True)
    assert f'"seed": {ckpt["config"]["seed"]}' in config  # config and checkpoint from one writer
    lines = (tmp_path / "twin" / "metrics.jsonl").read_text().splitlines()
    assert [int(line.split('"epoch": ')[1].split(",")[0]) for line in lines] == [1, 2]
