"""`aekl sweep` on a 512-image subset: run folders, sweep.json, figures, reuse, resume."""

from __future__ import annotations

import json

import pytest
from PIL import Image
from typer.testing import CliRunner

from core.cli import app

runner = CliRunner()
TINY = ["--subset", "512", "--epochs", "1"]


def sweep(root, *args):
    return runner.invoke(app, ["sweep", *TINY, "--out", str(root), *args])


def run_dirs(root):
    return sorted(p for p in root.iterdir() if (p / "config.json").is_file())


def png_size(path):
    with Image.open(path) as im:
        return im.size


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    result = sweep(root, "--latent", "3,2", "--json")
    assert result.exit_code == 0, result.stderr
    return root, result


def test_sweep_trains_one_run_per_size(first):
    root, result = first
    summary = json.loads(result.stdout)  # the whole of stdout is one JSON object
    assert summary["latents"] == [2, 3] and summary["kind"] == "ae"
    assert [r["latent"] for r in summary["runs"]] == [2, 3]
    assert {r["action"] for r in summary["runs"]} == {"trained"}
    dirs = run_dirs(root)
    assert [d.name.endswith(f"-ae-z{z}") for d, z in zip(dirs, (2, 3))] == [True, True]
    for row, d in zip(summary["runs"], dirs):
        assert row["run_dir"] == str(d) and row["epochs"] == 1 and row["params"] > 1_000_000
        metrics = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
        assert row["test_mse"] == metrics[-1]["test_mse"] and 0 < row["test_mse"] < 1
        assert json.loads((d / "status.json").read_text())["status"] == "finished"
        assert json.loads((d / "config.json").read_text())["subset"] == 512


def test_sweep_folder_holds_json_and_figures(first):
    root, result = first
    summary = json.loads(result.stdout)
    folder = root / summary["sweep"]
    assert folder.name.startswith("sweep-")
    assert json.loads((folder / "sweep.json").read_text()) == summary
    assert "latent" not in summary["config"] and summary["config"]["epochs"] == 1
    assert len(summary["digits"]) == 10
    assert png_size(folder / "sweep.png") == (640, 400)
    # 10 digits of 80 px after a 100 px label column; title strip of 40 px, then originals + 2 sizes
    assert png_size(folder / "reconstructions.png") == (900, 40 + 80 * 3)


def test_second_sweep_reuses_finished_runs(first):
    root, result = first
    before = {d: (d / "checkpoint.pt").stat().st_mtime_ns for d in run_dirs(root)}
    again = sweep(root, "--latent", "2,3", "--json")
    assert again.exit_code == 0, again.stderr
    summary = json.loads(again.stdout)
    assert [r["action"] for r in summary["runs"]] == ["reused", "reused"]
    assert {d: (d / "checkpoint.pt").stat().st_mtime_ns for d in run_dirs(root)} == before
    assert summary["runs"][0]["test_mse"] == json.loads(result.stdout)["runs"][0]["test_mse"]
    assert "reusing finished run" in again.stderr


def test_force_retrains_and_prints_a_table(tmp_path):
    assert sweep(tmp_path, "--latent", "2", "--json").exit_code == 0
    forced = sweep(tmp_path, "--latent", "2", "--force")
    assert forced.exit_code == 0, forced.stderr
    assert len(run_dirs(tmp_path)) == 2
    assert "test MSE" in forced.stdout and "trained" in forced.stdout and "sweep.png" in forced.stdout
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("sweep-")]) == 2


def test_stopped_run_is_resumed(tmp_path, mnist_small):
    from core.config import AEConfig
    from core.runs import new_run
    from core.train import Stopped, fit

    # The config the sweep below builds for z=2: defaults plus the TINY options.
    config = AEConfig(latent=2, epochs=1, subset=512)
    run = new_run(config, tmp_path)
    polls = iter([False, True])  # one step, then stop
    last = list(fit(config, mnist_small, run=run, should_stop=lambda: next(polls, True)))[-1]
    assert isinstance(last, Stopped) and last.step == 1

    result = sweep(tmp_path, "--latent", "2", "--json")
    assert result.exit_code == 0, result.stderr
    (row,) = json.loads(result.stdout)["runs"]
    assert row["action"] == "resumed" and row["run_dir"] == str(run.path)
    assert run_dirs(tmp_path) == [run.path]
    assert json.loads(run.file("status.json").read_text())["status"] == "finished"


def test_bad_latent_list_is_one_line(tmp_path):
    result = sweep(tmp_path, "--latent", "2,0")
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "at least 1" in result.stderr
    assert list(tmp_path.iterdir()) == []
