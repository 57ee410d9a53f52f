"""`aekl sweep --executor ray` on a local Ray started by these tests (2 CPUs, no
dashboard): the same run folders and numbers as the local executor, a worker
without the driver's files, and a cancelled sweep that leaves resumable runs.

Ray takes seconds to start on two shared cores, so the module starts it once
and keeps the runs tiny (256 images, hidden width 32)."""

from __future__ import annotations

import json
import logging

import pytest
from typer.testing import CliRunner

from core.cli import app
from core.config import AEConfig

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # starts Ray and trains on its workers
runner = CliRunner()
TINY = ["--subset", "256", "--epochs", "1", "--hidden", "32", "--latent", "2", "--seeds", "0,1"]
RUN_FILES = {"config.json", "status.json", "metrics.jsonl", "checkpoint.pt", "latents.npz", "loss.png",
             "latent.png", "interpolation.png", "reconstructions.png", "manifold.png"}


@pytest.fixture(scope="module")
def local_ray():
    if ray.is_initialized():
        yield
        return
    # The dev extra installs Ray so that these tests run: a Ray that cannot
    # start is a failure to see, not a reason to skip.
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield
    ray.shutdown()


def run_dirs(root):
    return sorted(p for p in root.iterdir() if (p / "config.json").is_file())


def test_ray_grid_matches_the_local_executor(local_ray, tmp_path):
    on_ray = runner.invoke(app, ["sweep", *TINY, "--executor", "ray", "--out", str(tmp_path / "ray"), "--json"])
    assert on_ray.exit_code == 0, on_ray.stderr
    local = runner.invoke(app, ["sweep", *TINY, "--out", str(tmp_path / "local"), "--json"])
    assert local.exit_code == 0, local.stderr
    ray_summary, local_summary = json.loads(on_ray.stdout), json.loads(local.stdout)
    assert ray_summary["executor"] == "ray" and local_summary["executor"] == "local"
    assert [(r["seed"], r["action"]) for r in ray_summary["runs"]] == [(0, "trained"), (1, "trained")]

    ray_dirs, local_dirs = run_dirs(tmp_path / "ray"), run_dirs(tmp_path / "local")
    assert len(ray_dirs) == len(local_dirs) == 2
    for a, b in zip(ray_dirs, local_dirs):
        names = {str(p.relative_to(a)) for p in a.rglob("*")}
        assert names == {str(p.relative_to(b)) for p in b.rglob("*")} and RUN_FILES <= names
        assert json.loads((a / "config.json").read_text()) == json.loads((b / "config.json").read_text())
        assert json.loads((a / "status.json").read_text())["status"] == "finished"
    # Same seeds, same numbers; Ray's worker runs torch on 1 thread and this
    # process on 2, so sums may round differently in the last digits.
    for r, l in zip(ray_summary["runs"], local_summary["runs"]):
        assert r["test_mse"] == pytest.approx(l["test_mse"], rel=1e-4)
        assert r["train_mse"] == pytest.approx(l["train_mse"], rel=1e-4)
    # the marker that told the workers they share this file system is gone
    assert [p.name for p in (tmp_path / "ray").iterdir() if p.name.startswith(".")] == []
    assert "ae z=2 seed 1: finished: test MSE" in on_ray.stderr


def test_a_worker_without_the_drivers_files_returns_the_run_folder(local_ray, tmp_path):
    from core.nn.models import load_trained
    from core.runfolder.runs import Run
    from core.lab.sweep_ray import Board, run_task, unpack

    config = AEConfig(latent=2, epochs=1, subset=256, hidden=(32,))
    run_dir = tmp_path / "runs" / "far-ae-z2"
    board = ray.remote(num_cpus=0)(Board).remote()
    # A marker the worker cannot read: it must train elsewhere and send the files back.
    task = dict(index=0, config=config.to_dict(), run_dir=str(run_dir), resume=False,
                marker=str(tmp_path / "no-marker"), token="token", files=None, data_dir=None, board=board)
    result = ray.get(ray.remote(run_task).remote(**task))
    assert result["state"] == "finished" and result["detail"].startswith("test MSE")
    assert RUN_FILES <= set(result["files"]) and "history/epoch-0001.npz" in result["files"]
    assert "lock" not in result["files"]  # the worker's lock stays with the worker
    assert not run_dir.exists()  # nothing was written where the driver's folder would be

    run_dir.mkdir(parents=True)
    unpack(result["files"], run_dir)
    run = Run(run_dir)
    assert run.status()["status"] == "finished" and len(run.metrics()) == 1 and run.config() == config
    model, _ = load_trained(run)
    assert sum(p.numel() for p in model.parameters()) > 0
    updates = ray.get(board.drain.remote())
    assert updates[0] == (0, {"state": "training", "epoch": 1, "epochs": 1, "step": 0, "steps": 1})


def test_a_cancelled_ray_sweep_leaves_resumable_runs(local_ray, tmp_path):
    from core.lab.sweep import plan
    from core.lab.sweep_ray import run_ray

    # Long enough (30 epochs of 32 steps) that the stop arrives mid-training.
    base = AEConfig(latent=2, epochs=30, batch_size=8, subset=256, hidden=(32,))
    configs = [AEConfig(**{**base.to_dict(), "hidden": (32,), "seed": s}) for s in (0, 1, 2)]
    jobs = plan(configs, tmp_path)
    seen = []

    def report(i, state, **details):
        seen.append((i, state))

    # Stop as soon as any run reports training. Which tasks Ray had begun by
    # then is its business; what it promises is that each one ends, stopped
    # with a checkpoint, finished, or cancelled before it began.
    outcomes = run_ray(jobs, tmp_path, None, 1.0, 0.0, lambda: any(s == "training" for _, s in seen), report)
    assert len(outcomes) == 3 and {o.state for o in outcomes} <= {"cancelled", "stopped", "finished"}, seen
    assert any(o.state != "cancelled" for o in outcomes), seen  # the one that reported training
    expected = {"cancelled": "train", "stopped": "resume", "finished": "reuse"}
    for o in outcomes:
        if o.state == "stopped":
            status = json.loads(o.run.file("status.json").read_text())
            assert status["status"] == "stopped" and status["epoch"] < 30
            assert o.run.file("checkpoint.pt").is_file()
        elif o.state == "cancelled":
            assert o.run is None  # its fresh folder was removed: nothing had started in it
    assert len(run_dirs(tmp_path)) == sum(o.state != "cancelled" for o in outcomes)
    # The same sweep again picks each run up where it ended.
    again = plan(configs, tmp_path)
    assert sorted(j.action for j in again) == sorted(expected[o.state] for o in outcomes)
    assert {j.run.path for j in again if j.action != "train"} == {o.run.path for o in outcomes if o.run}


def test_gpus_per_run_on_a_cluster_without_gpus_is_one_line(local_ray, tmp_path):
    if ray.cluster_resources().get("GPU", 0):
        pytest.skip("this Ray has GPUs")
    result = runner.invoke(app, ["sweep", *TINY, "--executor", "ray", "--gpus-per-run", "0.25", "--out", str(tmp_path)])
    assert result.exit_code == 2 and result.stdout == "" and result.stderr.count("\n") == 1
    assert "--gpus-per-run asks for a GPU, but the Ray cluster has none, got 0.25" in result.stderr
    assert list(tmp_path.iterdir()) == []
