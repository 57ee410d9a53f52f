"""`aekl train --config FILE`: a run's config.json reruns it (the same losses),
and flags given with it override the file."""

from __future__ import annotations

import pytest

import json

from typer.testing import CliRunner

from core.cli import app

runner = CliRunner()
TINY = ["--subset", "256", "--epochs", "2", "--hidden", "32", "--batch-size", "64", "--kind", "vae",
        "--kl-warmup", "1", "--free-bits", "0.05", "--seed", "3", "--threads", "1"]


def rows(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def losses(run) -> list[dict]:
    """Each epoch's numbers that training decides (not its timings)."""
    return [{k: v for k, v in r.items() if "loss" in k or "mse" in k or "kl" in k} for r in rows(run)]


@pytest.mark.slow  # trains runs with `aekl train`
def test_a_runs_config_file_reruns_it_and_flags_override_it(tmp_path):
    first = runner.invoke(app, ["train", *TINY, "--out", str(tmp_path), "--name", "x"])
    assert first.exit_code == 0, first.stderr
    config = tmp_path / "x" / "config.json"
    again = runner.invoke(app, ["train", "--config", str(config), "--out", str(tmp_path), "--name", "y"])
    assert again.exit_code == 0, again.stderr
    assert json.loads((tmp_path / "y" / "config.json").read_text()) == json.loads(config.read_text())
    want = losses(tmp_path / "x")
    assert len(want) == 2 and all(len(r) >= 3 for r in want)  # train loss, test MSE, KL at least
    assert losses(tmp_path / "y") == want

    changed = runner.invoke(app, ["train", "--config", str(config), "--epochs", "1", "--kl-warmup", "0",
                                  "--dry-run", "--json", "--out", str(tmp_path)])
    assert changed.exit_code == 0, changed.stderr
    started = json.loads(changed.stdout.splitlines()[0])
    assert started["event"] == "Started"
    assert started["config"] == {**json.loads(config.read_text()), "epochs": 1, "kl_warmup": 0}
