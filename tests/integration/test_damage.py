"""Damaged, foreign and half-written files: one clear line, never a lost result."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from core.cli import app
from core.errors import RunError
from core.runfolder.runs import Run, new_run, open_run
from standin import stand_in_checkpoint

runner = CliRunner()
TINY = ["--subset", "256", "--epochs", "1", "--hidden", "32", "--batch-size", "64"]


@pytest.fixture
def run_dir(finished_run, tmp_path):
    shutil.copytree(finished_run, tmp_path / "r")
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
    one_error_line(runner.invoke(app, ["interpolate", "r", "--out", str(root)]), "checkpoint.pt", "damaged", "truncated")


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


@pytest.mark.slow
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


@pytest.mark.slow  # trains for epochs
def test_nan_loss_stops_with_advice_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    from core.data.mnist import MNIST

    real = MNIST.batch
    calls = {"n": 0}

    def poisoned(self, index):
        # training batches only (evaluation slices the test set itself): NaN
        # images make the real step's loss and then the weights NaN
        out = real(self, index)
        calls["n"] += 1
        if calls["n"] > 6:  # 4 steps per epoch: epoch 1 is clean, epoch 2 diverges
            out = out * float("nan")
        return out

    monkeypatch.setattr(MNIST, "batch", poisoned)
    result = runner.invoke(app, ["train", *TINY, "--epochs", "3", "--out", str(tmp_path), "--name", "nan"])
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert "the loss became nan in epoch 2" in line and "lower learning rate" in line
    run = Run(tmp_path / "nan")
    assert run.status()["status"] == "failed"
    assert run.load_checkpoint()["epoch"] == 1
    assert [m["epoch"] for m in run.metrics()] == [1]


# --- one damaged run never hides the others ----------------------------------
# Each row damages one file of a copy of a finished run; `aekl runs` (table
# and --json) must list that run as damaged with the reason and every other
# run as before, and `aekl show` must give one line. Commands run in a
# subprocess with a timeout, so a reader that blocks (a FIFO) fails the test
# instead of hanging it.


def _write(name, text):
    return lambda run: (run / name).write_text(text)


def _edit_config(**changes):
    def edit(run):
        cfg = json.loads((run / "config.json").read_text())
        cfg.update(changes)
        (run / "config.json").write_text(json.dumps(cfg))
    return edit


def _fifo(name):
    def make(run):
        (run / name).unlink()
        os.mkfifo(run / name)
    return make


def _append_metrics(line):
    def append(run):
        with open(run / "metrics.jsonl", "a") as f:
            f.write(line + "\n")
    return append


def _drop_metric(key):
    def drop(run):
        row = json.loads((run / "metrics.jsonl").read_text())
        del row[key]
        (run / "metrics.jsonl").write_text(json.dumps(row) + "\n")
    return drop


DAMAGE = [
    # (id, how to damage the run folder, text of the reason)
    ("status-list", _write("status.json", "[1, 2]"), "status.json is damaged: expected an object with a status, got a list"),
    ("status-no-status", _write("status.json", '{"epoch": 1}'), "expected an object with a status, got an object"),
    ("status-epoch-text", _write("status.json", '{"status": "finished", "epoch": "one"}'), "epoch is 'one', not an integer"),
    ("status-binary", lambda run: (run / "status.json").write_bytes(b"\xff\xfe\x00"), "status.json is damaged: not UTF-8 text"),
    ("status-fifo", _fifo("status.json"), "status.json is damaged: not a regular file"),
    ("status-folder", lambda run: ((run / "status.json").unlink(), (run / "status.json").mkdir()), "status.json is damaged: not a regular file"),
    ("status-huge", _write("status.json", " " * (2 << 20)), "bytes, more than aekl writes"),
    ("metrics-number", _append_metrics("42"), "metrics.jsonl: line 2 is damaged: expected an object, got int"),
    ("metrics-list", _append_metrics("[]"), "line 2 is damaged: expected an object, got a list"),
    ("metrics-missing-key", _drop_metric("test_mse"), "metrics.jsonl: line 1 is damaged: no test_mse"),
    ("metrics-text-value", _append_metrics('{"epoch": 2, "train_mse": "low", "test_mse": 1, "seconds": 1, '
                                           '"samples_per_s": 1}'), "train_mse is 'low', not a number"),
    ("metrics-nan", _append_metrics('{"epoch": 2, "train_mse": NaN, "test_mse": 1, "seconds": 1, "samples_per_s": 1}'),
     "line 2 is damaged: NaN is not a number aekl writes"),
    ("metrics-infinity", _append_metrics('{"epoch": 2, "train_mse": 1, "test_mse": -Infinity, "seconds": 1, '
                                         '"samples_per_s": 1}'), "-Infinity is not a number aekl writes"),
    ("metrics-fifo", _fifo("metrics.jsonl"), "metrics.jsonl is damaged: not a regular file"),
    ("config-latent-neg", _edit_config(latent=-1), "config.json: latent must be at least 1, got -1"),
    ("config-latent-text", _edit_config(latent="two"), "config.json: latent must be an integer, got 'two'"),
    ("config-latent-bool", _edit_config(latent=True), "config.json: latent must be an integer, got True"),
    ("config-hidden-zero", _edit_config(hidden=[0]), "config.json: hidden sizes must be positive, got [0]"),
    ("config-hidden-text", _edit_config(hidden="512"), "config.json: hidden must be a list of integers, got '512'"),
    ("config-huge-latent", _edit_config(latent=10**9), "config.json: latent gives a model of"),
    ("config-seed-2**64", _edit_config(seed=2**64), "config.json: seed must be at most 9223372036854775807"),
    ("config-lr-text", _edit_config(lr="fast"), "config.json: lr must be a number, got 'fast'"),
    ("config-device", _edit_config(device="tpu"), "config.json: device is not a device aekl knows"),
    ("config-list", _write("config.json", "[]"), "config.json: expected a JSON object, got list"),
    ("config-nested", _write("config.json", "[" * 100_000 + "]" * 100_000), "config.json is damaged: JSON nested too deeply"),
    ("config-fifo", _fifo("config.json"), "config.json is damaged: not a regular file"),
]


def aekl(*argv, timeout=60):
    return subprocess.run([sys.executable, "-m", "core.cli", *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.slow  # three fresh `aekl` processes a case: a reader that blocks fails instead of hanging
@pytest.mark.parametrize("damage, reason", [pytest.param(c[1], c[2], id=c[0]) for c in DAMAGE])
def test_damaged_run_is_listed_as_damaged_and_the_others_normally(finished_run, tmp_path, damage, reason):
    for name in ("a-good", "b-bad", "c-good"):
        shutil.copytree(finished_run, tmp_path / name)
    damage(tmp_path / "b-bad")

    listed = aekl("runs", "--json", "--out", tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = {r["id"]: r for r in json.loads(listed.stdout)}
    assert list(rows) == ["c-good", "b-bad", "a-good"]
    assert rows["b-bad"]["status"] == "damaged" and reason in rows["b-bad"]["error"]
    for good in ("a-good", "c-good"):
        assert (rows[good]["status"], rows[good]["epochs"], rows[good]["planned"], rows[good]["latent"]) == \
            ("finished", 1, 1, 2)

    table = aekl("runs", "--out", tmp_path)
    assert table.returncode == 0, table.stderr
    assert table.stdout.count("finished") == 2 and "damaged" in table.stdout
    assert reason in " ".join(table.stdout.split())

    shown = aekl("show", "b-bad", "--out", tmp_path, "--json")
    assert shown.returncode == 2 and shown.stdout == ""
    (line,) = shown.stderr.strip().splitlines()
    assert reason in line
    assert aekl("show", "a-good", "--out", tmp_path, "--json").returncode == 0


CHECKPOINT_DAMAGE = [
    # (id, how to damage checkpoint.pt, text of the one error line)
    # what a cheap look at the file sees (not a zip, a link) is the run's verdict everywhere
    ("random-bytes", lambda ck: ck.write_bytes(os.urandom(4096)),
     "checkpoint.pt is damaged: truncated or not a checkpoint"),
    ("text", lambda ck: ck.write_text("hello, I am not a checkpoint\n"),
     "checkpoint.pt is damaged: truncated or not a checkpoint"),
    ("symlink-to-text", lambda ck: (ck.unlink(), ck.with_name("notes.txt").write_text("just notes\n"),
                                    ck.symlink_to("notes.txt")), "checkpoint.pt is damaged: a link, not a file aekl wrote"),
    ("zip-not-weights", lambda ck: stand_in_checkpoint(ck), "checkpoint.pt is damaged or truncated"),
    ("fifo", lambda ck: (ck.unlink(), os.mkfifo(ck)), "checkpoint.pt is damaged: not a regular file"),
    ("folder", lambda ck: (ck.unlink(), ck.mkdir()), "checkpoint.pt is damaged: not a regular file"),
    ("model-list", lambda ck: torch.save({"model": [torch.zeros(1)]}, ck), "is not an aekl checkpoint"),
    ("model-of-numbers", lambda ck: torch.save({"model": {"encoder.0.weight": 3}}, ck),
     "its model holds something other than named tensors"),
]


@pytest.mark.slow  # a fresh `aekl` process (torch) a case
@pytest.mark.parametrize("damage, reason", [pytest.param(c[1], c[2], id=c[0]) for c in CHECKPOINT_DAMAGE])
@pytest.mark.parametrize("command", ["interpolate", "latent"])
def test_damaged_checkpoint_is_one_line(finished_run, tmp_path, damage, reason, command):
    shutil.copytree(finished_run, tmp_path / "r")
    damage(tmp_path / "r" / "checkpoint.pt")
    result = aekl(command, "r", "--out", tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    (line,) = result.stderr.strip().splitlines()
    assert reason in line and result.stdout == ""


LATENTS_DAMAGE = [
    ("wrong-width", {"codes": np.zeros((10, 3), np.float32), "labels": np.zeros(10, np.int64)},
     "codes (10, 3) float32 and labels (10,) int64 do not fit a latent size of 2"),
    ("labels-short", {"codes": np.zeros((10, 2), np.float32), "labels": np.zeros(9, np.int64)}, "do not fit"),
    ("flat-codes", {"codes": np.zeros(20, np.float32), "labels": np.zeros(20, np.int64)}, "do not fit"),
    ("text-labels", {"codes": np.zeros((2, 2), np.float32), "labels": np.array(["a", "b"])}, "do not fit"),
    ("no-labels", {"codes": np.zeros((2, 2), np.float32)}, "latents.npz is damaged (KeyError)"),
    ("not-npz", None, "latents.npz is damaged"),
]


@pytest.mark.parametrize("arrays, reason", [pytest.param(c[1], c[2], id=c[0]) for c in LATENTS_DAMAGE])
def test_latents_of_the_wrong_shape_are_damaged(finished_run, tmp_path, arrays, reason):
    shutil.copytree(finished_run, tmp_path / "r")
    run = Run(tmp_path / "r")
    codes, labels = run.latents()  # the file the run wrote reads back
    assert codes.shape == (10_000, 2) and labels.shape == (10_000,)
    if arrays is None:
        run.file("latents.npz").write_text("not a zip")
    else:
        np.savez(run.file("latents.npz"), **arrays)
    with pytest.raises(RunError, match=re.escape(reason)):
        run.latents()
