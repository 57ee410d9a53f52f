"""`aekl sweep`, local executor, on a 512-image subset: a 2x2 grid (latent x seed),
run folders, sweep.json with mean ± std, figures, reuse, resume, bad input."""

from __future__ import annotations

import json
import math
import sys

import pytest
from PIL import Image
from typer.testing import CliRunner

from core.cli import app

runner = CliRunner()
TINY = ["--subset", "512", "--epochs", "1", "--hidden", "32"]


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
    result = sweep(root, "--latent", "3,2", "--seeds", "1,0", "--json")
    assert result.exit_code == 0, result.stderr
    return root, result


@pytest.mark.slow  # trains a grid
def test_grid_trains_one_run_per_point(first):
    root, result = first
    summary = json.loads(result.stdout)  # the whole of stdout is one JSON object
    assert summary["latents"] == [2, 3] and summary["seeds"] == [0, 1] and summary["kinds"] == ["ae"]
    assert summary["executor"] == "local" and summary["betas"] == []
    assert [(r["latent"], r["seed"]) for r in summary["runs"]] == [(2, 0), (2, 1), (3, 0), (3, 1)]
    assert {r["action"] for r in summary["runs"]} == {"trained"}
    dirs = run_dirs(root)
    assert len(dirs) == 4
    for row in summary["runs"]:
        d = root / row["run_id"]
        assert row["run_dir"] == str(d) and f"-ae-z{row['latent']}" in d.name
        config = json.loads((d / "config.json").read_text())
        assert (config["latent"], config["seed"], config["subset"], config["hidden"]) == (row["latent"], row["seed"], 512, [32])
        metrics = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
        assert row["test_mse"] == metrics[-1]["test_mse"] and 0 < row["test_mse"] < 1.5
        assert json.loads((d / "status.json").read_text())["status"] == "finished"
    by_seed = {(r["latent"], r["seed"]): r["test_mse"] for r in summary["runs"]}
    assert by_seed[(2, 0)] != by_seed[(2, 1)]  # the seed does change the run


@pytest.mark.slow  # trains a grid
def test_configs_hold_mean_and_std_over_seeds(first):
    _, result = first
    summary = json.loads(result.stdout)
    assert [(c["kind"], c["beta"], c["latent"], c["seeds"]) for c in summary["configs"]] == [
        ("ae", None, 2, [0, 1]), ("ae", None, 3, [0, 1])]
    for c in summary["configs"]:
        a, b = (r["test_mse"] for r in summary["runs"] if r["latent"] == c["latent"])
        # two values: mean (a+b)/2, sample standard deviation |a-b|/sqrt(2)
        assert c["test_mse_mean"] == pytest.approx((a + b) / 2, rel=1e-12)
        assert c["test_mse_std"] == pytest.approx(abs(a - b) / math.sqrt(2), rel=1e-12)
        assert c["actions"] == ["trained", "trained"] and c["epochs"] == 1


@pytest.mark.slow  # trains a grid
def test_sweep_folder_holds_json_and_figures(first):
    root, result = first
    summary = json.loads(result.stdout)
    folder = root / summary["sweep"]
    assert folder.name.startswith("sweep-")
    assert json.loads((folder / "sweep.json").read_text()) == summary
    assert not {"latent", "seed", "kind", "beta"} & set(summary["config"]) and summary["config"]["epochs"] == 1
    assert len(summary["digits"]) == 10
    assert png_size(folder / "sweep.png") == (640, 400)
    # 10 digits of 80 px after a 100 px label column; title strip of 40 px, then originals + 2 configurations
    assert png_size(folder / "reconstructions.png") == (900, 40 + 80 * 3)


@pytest.mark.slow  # trains a grid
def test_second_sweep_reuses_finished_runs_and_prints_the_spread(first):
    root, result = first
    before = {d: (d / "checkpoint.pt").stat().st_mtime_ns for d in run_dirs(root)}
    again = sweep(root, "--latent", "2,3", "--seeds", "0,1")
    assert again.exit_code == 0, again.stderr
    assert {d: (d / "checkpoint.pt").stat().st_mtime_ns for d in run_dirs(root)} == before
    first_configs = json.loads(result.stdout)["configs"]
    for c in first_configs:  # the table shows mean ± std per configuration, as reused
        assert f"{c['test_mse_mean']:.4f} ± {c['test_mse_std']:.4f}" in again.stdout
    assert again.stdout.count("2 reused") == 2
    assert "ae z=2 seed 0: reused: finished run" in again.stderr


@pytest.mark.slow  # trains a grid
def test_a_finished_run_whose_weights_do_not_load_is_trained_again_not_reused(tmp_path):
    import shutil

    assert sweep(tmp_path, "--latent", "2,3").exit_code == 0
    z2, z3 = (next(d for d in run_dirs(tmp_path) if d.name.endswith(f"-z{n}")) for n in (2, 3))
    shutil.copyfile(z3 / "checkpoint.pt", z2 / "checkpoint.pt")  # another run's weights: a zip all the same
    again = sweep(tmp_path, "--latent", "2")
    assert again.exit_code == 0, again.stderr
    assert "reused" not in again.stderr and "trained" in again.stdout
    assert len([d for d in run_dirs(tmp_path) if d.name.endswith("-z2")]) == 2


@pytest.mark.slow  # trains a grid
def test_force_retrains(tmp_path):
    assert sweep(tmp_path, "--latent", "2", "--json").exit_code == 0
    forced = sweep(tmp_path, "--latent", "2", "--force")
    assert forced.exit_code == 0, forced.stderr
    assert len(run_dirs(tmp_path)) == 2
    assert "test MSE" in forced.stdout and "trained" in forced.stdout and "sweep.png" in forced.stdout
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("sweep-")]) == 2


@pytest.mark.slow  # trains a grid
def test_stopped_run_is_resumed(tmp_path, mnist_small):
    from core.config import AEConfig
    from core.runfolder.runs import new_run
    from core.engine.fit import Stopped, fit

    # The config the sweep below builds for z=2: defaults plus the TINY options.
    config = AEConfig(latent=2, epochs=1, subset=512, hidden=(32,))
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


@pytest.mark.parametrize("args, words", [
    (["--latent", "2,0"], "--latent must be at least 1, got 0"),
    (["--latent", ""], "--latent must list at least one value"),
    (["--latent", "2,,4"], "--latent must be a comma-separated list of integers with no empty item"),
    (["--latent", "2,x"], "--latent must be a comma-separated list of integers, got '2,x'"),
    (["--latent", "2,4,2"], "--latent must not repeat a value (2 is given twice)"),
    (["--kind", "ae,gan"], "--kind must be a comma-separated list of model kinds"),
    (["--seeds", "0,-1"], "--seeds must be 0 or more, got -1"),
    (["--beta", "1,4"], "--beta only varies VAEs, and this grid has only AEs"),
    (["--kind", "vae", "--beta", "1,-2"], "--beta must be a non-negative number, got -2"),
    (["--gpus-per-run", "0.5"], "--gpus-per-run applies only to the ray executor"),
    (["--executor", "slurm"], "--executor must be local or ray, got 'slurm'"),
    (["--executor", "ray", "--gpus-per-run", "1.5"], "--gpus-per-run above 1 must be a whole number"),
    (["--executor", "ray", "--cpus-per-run", "0"], "--cpus-per-run must be a positive number, got 0"),
])
def test_bad_grid_is_one_line_and_trains_nothing(tmp_path, args, words):
    result = sweep(tmp_path, *args)
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert words in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_ray_executor_without_ray_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    result = sweep(tmp_path, "--latent", "2", "--executor", "ray")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "pip install -e '.[ray]'" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_unreachable_ray_address_is_one_line_without_starting_ray(tmp_path):
    """The address is probed before ray.init, which would retry an unreachable
    head for minutes: the answer comes from the probe, and Ray never starts."""
    import socket
    import time

    ray = pytest.importorskip("ray")
    with socket.socket() as s:  # a port nobody listens on once this socket closes
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    began = time.monotonic()
    result = sweep(tmp_path, "--latent", "2", "--executor", "ray", "--ray-address", f"127.0.0.1:{port}")
    assert not ray.is_initialized()
    assert time.monotonic() - began < 60  # generous: a loaded machine, not Ray's retries
    assert result.exit_code == 2 and result.stdout == "" and result.stderr.count("\n") == 1
    assert f"--ray-address cannot be reached (Connection refused), got '127.0.0.1:{port}'" in result.stderr
    assert list(tmp_path.iterdir()) == []
