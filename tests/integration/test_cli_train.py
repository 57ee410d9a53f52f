"""`aekl train`, `runs`, `show`, `interpolate`, `latent` through the Typer app."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from core.cli import app

runner = CliRunner()
TINY = ["--subset", "256", "--epochs", "1", "--hidden", "32", "--batch-size", "64"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, figures_drawn):
    """One finished tiny run, shared by the read-only commands below."""
    root = tmp_path_factory.mktemp("runs")
    result = runner.invoke(app, ["train", *TINY, "--out", str(root), "--name", "tiny", "--json"])
    assert result.exit_code == 0, result.stderr
    figures_drawn(root / "tiny")
    return root, result


@pytest.mark.slow  # shares a run trained by `aekl train`
def test_train_json_is_a_stream_of_events(trained):
    root, result = trained
    events = [json.loads(line) for line in result.stdout.splitlines()]
    names = [e["event"] for e in events]
    assert names[0] == "Started" and names[-1] == "Finished" and "EpochEnd" in names
    end = next(e for e in events if e["event"] == "EpochEnd")
    assert end["codes"] == [2000, 2] and end["frames"] == [10, 28, 28]  # arrays become shapes
    assert 0 < end["test_mse"] < 1
    assert events[-1]["files"]["latent"].endswith("tiny/latent.png")
    assert (root / "tiny" / "checkpoint.pt").exists()


@pytest.mark.slow  # shares a run trained by `aekl train`
def test_runs_lists_the_run(trained):
    root, _ = trained
    result = runner.invoke(app, ["runs", "--out", str(root), "--json"])
    assert result.exit_code == 0
    (row,) = json.loads(result.stdout)
    assert row["id"] == "tiny" and row["status"] == "finished" and row["latent"] == 2
    assert row["epochs"] == 1 and 0 < row["best_test_mse"] < 1
    table = runner.invoke(app, ["runs", "--out", str(root)])
    assert "tiny" in table.stdout and "finished" in table.stdout


@pytest.mark.slow  # shares a run trained by `aekl train`
def test_show_reports_config_and_metrics(trained):
    root, _ = trained
    body = json.loads(runner.invoke(app, ["show", "tiny", "--out", str(root), "--json"]).stdout)
    assert body["config"]["hidden"] == [32] and len(body["metrics"]) == 1
    assert "latent.png" in body["files"]


@pytest.mark.slow  # shares a run trained by `aekl train`
def test_interpolate_writes_png_and_draws_frames(trained):
    root, _ = trained
    result = runner.invoke(app, ["interpolate", "tiny", "--out", str(root), "--from-index", "3",
                                 "--to-index", "4", "--steps", "6", "--json"])
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert len(body["codes"]) == 8 and (body["from"], body["to"]) == (3, 4)
    assert (root / "tiny" / "interpolation-3-4-linear.png").exists()
    drawn = runner.invoke(app, ["interpolate", "tiny", "--out", str(root), "--steps", "5"])
    assert "\u2580" in drawn.stdout  # half blocks: the frames are drawn in the terminal
    strip = [line for line in drawn.stdout.splitlines() if "\u2580" in line]
    assert strip and max(len(line) for line in strip) <= 80  # fits the 80 columns, no wrapping


@pytest.mark.slow  # shares a run trained by `aekl train`
def test_latent_redraws_figures(trained):
    root, _ = trained
    (root / "tiny" / "latent.png").unlink()
    result = runner.invoke(app, ["latent", "tiny", "--out", str(root)])
    assert result.exit_code == 0, result.stderr
    assert (root / "tiny" / "latent.png").stat().st_size > 10_000


def test_dry_run_writes_nothing(tmp_path):
    result = runner.invoke(app, ["train", *TINY, "--out", str(tmp_path), "--dry-run"])
    assert result.exit_code == 0, result.stderr
    assert "dry run ok" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # shares a run trained by `aekl train`
def test_existing_name_needs_force(trained):
    root, _ = trained
    again = runner.invoke(app, ["train", *TINY, "--out", str(root), "--name", "tiny"])
    assert again.exit_code == 2 and "already exists" in again.stderr
