"""Damaged, foreign and half-written files: one clear line, never a lost result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from core.cli import app
from core.errors import RunError
from core.runs import Run, new_run, open_run

runner = CliRunner()
TINY = ["--subset", "256", "--epochs", "1", "--hidden", "32", "--batch-size", "64"]


@pytest.fixture
def run_dir(tmp_path):
    result = runner.invoke(app, ["train", *TINY, "--out", str(tmp_path), "--name", "r"])
    assert result.exit_code == 0, result.stderr
    return tmp_path, tmp_path / "r"


def one_error_line(result, *needles):
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert result.stdout == ""


def test_truncated_checkpoint(run_dir):
    root, path = run_dir
    ck = path / "checkpoint.pt"
    ck.write_bytes(ck.read_bytes()[: ck.stat().st_size // 3])
    one_error_line(runner.invoke(app, ["interpolate", "r", "--out", str(root)]), "checkpoint.pt", "damaged or truncated")


def test_checkpoint_of_another_shape(run_dir):
    root, path = run_dir
    cfg = json.loads((path / "config.json").read_text())
    cfg["hidden"] = [48]
    (path / "config.json").write_text(json.dumps(cfg))
    one_error_line(runner.invoke(app, ["latent", "r", "--out", str(root)]), "checkpoint.pt", "does not match")


@pytest.mark.parametrize("edit, needle", [
    (lambda c: c.update(colour="blue"), "unknown fields colour"),
    (lambda c: c.pop("latent"), "missing fields latent"),
])
def test_config_with_wrong_fields(run_dir, edit, needle):
    root, path = run_dir
    cfg = json.loads((path / "config.json").read_text())
    edit(cfg)
    (path / "config.json").write_text(json.dumps(cfg))
    one_error_line(runner.invoke(app, ["show", "r", "--out", str(root)]), "config.json", needle)


def test_config_that_is_not_json(run_dir):
    root, path = run_dir
    (path / "config.json").write_text("{latent: 2")
    one_error_line(runner.invoke(app, ["show", "r", "--out", str(root)]), "config.json", "not valid JSON")


class Payload:
    """Stands for arbitrary code in a pickle: weights_only must refuse it."""

    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_checkpoint_with_pickled_objects_is_refused(run_dir):
    root, path = run_dir
    torch.save({"model": Payload()}, path / "checkpoint.pt")
    one_error_line(runner.invoke(app, ["interpolate", "r", "--out", str(root)]), "checkpoint.pt", "refused")


def test_partial_metrics_line_is_ignored_with_a_warning(run_dir):
    _, path = run_dir
    with open(path / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 2, "train_m')
    with pytest.warns(UserWarning, match="partial last line"):
        rows = Run(path).metrics()
    assert [r["epoch"] for r in rows] == [1]


@pytest.mark.parametrize("run_id", ["..", "../r", "/etc", "a/b", ".hidden", ""])
def test_run_ids_are_folder_names_only(run_dir, run_id):
    root, _ = run_dir
    one_error_line(runner.invoke(app, ["show", run_id, "--out", str(root)]), "not a run id")


def test_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "stuff").mkdir()
    with pytest.raises(RunError, match="not an aekl run"):
        open_run("stuff", tmp_path)


def test_disk_full_while_writing_is_one_error_and_keeps_the_old_file(run_dir, monkeypatch):
    _, path = run_dir
    before = (path / "checkpoint.pt").read_bytes()

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(RunError, match="No space left on device"):
        Run(path).save_checkpoint({"model": {}})
    assert (path / "checkpoint.pt").read_bytes() == before
    assert not list(path.glob(".*.tmp"))


LAUNCH = [sys.executable, "-c", "from core.cli import app; app()"]
KILL_ARGS = ["train", "--subset", "1024", "--batch-size", "64", "--epochs", "3", "--hidden", "128,64", "--json"]


def test_sigkill_at_any_moment_loses_nothing(tmp_path):
    whole = subprocess.run([*LAUNCH, *KILL_ARGS, "--out", str(tmp_path), "--name", "whole"], capture_output=True, timeout=300)
    assert whole.returncode == 0, whole.stderr
    reference = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=True)["model"]

    # Kill after a growing number of events: mid-epoch, right after an epoch's
    # files were written, and late in the run.
    for kill_after in (3, 20, 41):
        name = f"k{kill_after}"
        proc = subprocess.Popen([*LAUNCH, *KILL_ARGS, "--out", str(tmp_path), "--name", name],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for i, _ in enumerate(proc.stdout):
            if i + 1 >= kill_after:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        run = Run(tmp_path / name)
        run.metrics()  # whole lines only, or a warned-about partial last line
        if run.file("checkpoint.pt").exists():
            run.load_checkpoint()  # the old or the new file, never a prefix
            result = subprocess.run([*LAUNCH, "train", "--resume", name, "--out", str(tmp_path), "--json"],
                                    capture_output=True, text=True, timeout=300)
        else:  # killed before the first epoch ended: nothing to resume, start again
            result = subprocess.run([*LAUNCH, *KILL_ARGS, "--out", str(tmp_path), "--name", name, "--force"],
                                    capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        final = torch.load(run.file("checkpoint.pt"), weights_only=True)["model"]
        assert all(torch.equal(final[k], reference[k]) for k in reference), name
        assert [m["epoch"] for m in run.metrics()] == [1, 2, 3]
        assert not list(run.path.glob(".*.tmp"))


def test_nan_loss_stops_with_advice_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    from core.models import AutoEncoder

    real = AutoEncoder.losses
    calls = {"n": 0}

    def poisoned(self, x, noise=None):
        out = real(self, x, noise)
        if self.training:
            calls["n"] += 1
            if calls["n"] > 6:  # 4 steps per epoch: epoch 1 is clean, epoch 2 diverges
                out = {k: v * float("nan") for k, v in out.items()}
        return out

    monkeypatch.setattr(AutoEncoder, "losses", poisoned)
    result = runner.invoke(app, ["train", *TINY, "--epochs", "3", "--out", str(tmp_path), "--name", "nan"])
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert "the loss became nan in epoch 2" in line and "lower learning rate" in line
    run = Run(tmp_path / "nan")
    assert run.status()["status"] == "failed"
    assert run.load_checkpoint()["epoch"] == 1
    assert [m["epoch"] for m in run.metrics()] == [1]
