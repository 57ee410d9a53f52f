"""A table of damaged run folders driven through every reader.

Each row damages one file of a copy of a real finished run, the way a crash,
a hand edit or another program might. Every reader must then say `damaged`
with the file and the reason: `aekl runs --json` lists it so, `show`,
`movie`, `latent` and `train --resume` refuse it in one line with exit 2,
and the app's run header says damaged. Never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from core.cli import app as cli

# Each case trains or starts processes: left out of the fast loop.
pytestmark = pytest.mark.slow

runner = CliRunner()


def status(**body):
    return lambda run: (run / "status.json").write_text(json.dumps({"status": "finished", "epoch": 1, **body}))


def row(**changes):
    def edit(run):
        first = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
        first.update(changes)
        (run / "metrics.jsonl").write_text(json.dumps(first) + "\n")
    return edit


def append(text):
    def edit(run):
        with open(run / "metrics.jsonl", "a") as f:
            f.write(text)
    return edit


def linked(name):
    def edit(run):
        shutil.copy(run / name, run / f"{name}.copy")
        (run / name).unlink()
        (run / name).symlink_to(f"{name}.copy")
    return edit


DAMAGE = [
    ("status-word", status(status="paused"), "status.json is damaged: unknown status 'paused'"),
    ("status-epoch-bool", status(epoch=True), "epoch is True, not an integer"),
    ("status-epoch-negative", status(epoch=-3), "epoch is -3, outside 0.."),
    ("status-pid-bool", status(pid=True), "pid is True, not an integer"),
    ("status-pid-huge", status(pid=2**70), "pid is 1180591620717411303424, outside 1.."),
    ("status-files", status(files=[1]), "files is not a table of names to paths"),
    ("status-ahead", status(epoch=5), "metrics.jsonl is damaged: it holds 1 epoch, but status.json says 5 are done"),
    ("status-link", linked("status.json"), "status.json is damaged: a link, not a file aekl wrote"),
    ("metrics-order", row(epoch=3), "metrics.jsonl: line 1 is damaged: epoch 3 where epoch 1 belongs"),
    ("metrics-epoch-bool", row(epoch=True), "line 1 is damaged: epoch is True, not an integer"),
    ("metrics-beta-text", row(beta="1"), "line 1 is damaged: beta is '1', not a number"),
    ("metrics-kl-shape", row(kl_per_dim=[0.1, 0.2, 0.3]), "kl_per_dim has 3 values for a latent size of 2"),
    ("metrics-kl-text", row(kl_per_dim=["a", "b"]), "kl_per_dim is not a list of finite numbers"),
    ("metrics-word", row(note="hi"), "line 1 is damaged: note is a string, not a number"),
    ("metrics-negative", row(test_mse=-1), "test_mse is -1, below 0"),
    ("metrics-too-many", lambda run: append((run / "metrics.jsonl").read_text().replace('"epoch": 1', '"epoch": 2'))(run),
     "metrics.jsonl is damaged: 2 epochs in a run of 1"),
    ("metrics-long-line", append("x" * (2 << 20) + "\n"), "line 2 is damaged: longer than 1,048,576 bytes"),
    ("metrics-long-partial", append(" " * (2 << 20)), "line 2 is damaged: longer than 1,048,576 bytes"),
    ("metrics-link", linked("metrics.jsonl"), "metrics.jsonl is damaged: a link, not a file aekl wrote"),
    ("metrics-folder", lambda run: ((run / "metrics.jsonl").unlink(), (run / "metrics.jsonl").mkdir()),
     "metrics.jsonl is damaged: not a regular file"),
]


def one_line(result, reason):
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr, result.exception)
    (line,) = result.stderr.strip().splitlines()
    assert "damaged" in line and reason in line, line
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("damage, reason", [pytest.param(c[1], c[2], id=c[0]) for c in DAMAGE])
def test_every_reader_says_damaged(finished_run, tmp_path, damage, reason):
    shutil.copytree(finished_run, tmp_path / "r", symlinks=True)
    damage(tmp_path / "r")
    out = ["--out", str(tmp_path)]

    listed = runner.invoke(cli, ["runs", "--json", *out])
    assert listed.exit_code == 0, listed.stderr
    (r,) = json.loads(listed.stdout)
    assert r["status"] == "damaged" and reason in r["reason"] and r["epochs"] is None

    table = runner.invoke(cli, ["runs", *out])
    assert table.exit_code == 0 and "damaged" in table.stdout and reason in " ".join(table.stdout.split())

    for argv in (["show", "r"], ["show", "r", "--json"], ["movie", "r"], ["latent", "r"], ["train", "--resume", "r"]):
        one_line(runner.invoke(cli, [*argv, *out]), reason)
    assert not (tmp_path / "r" / "latent.gif").exists()

    header = asyncio.run(app_header(tmp_path, "r"))
    assert header[0] == "damaged" and reason in header[1], header


async def app_header(root, name):
    from tui.app import make_app

    app = make_app(runs_dir=root, attach=name)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        for _ in range(1500):
            if screen.state is not None and screen.state.ended:
                break
            await pilot.pause(0.02)
        return str(screen.state), screen.reason


HISTORY = [
    ("pair-of-three", {"pair": np.array([0, 1, 2])}, "pair is int64 (3,), not two test indices"),
    ("nan-codes", {"codes": np.full((4, 2), np.nan, np.float32), "labels": np.zeros(4, np.int64)},
     "codes or frames hold inf or NaN"),
    ("text-labels", {"labels": np.array(["a"] * 2000)}, "labels are <U1 (2000,), not 2000 whole numbers"),
    ("wrong-width", {"codes": np.zeros((2000, 3), np.float32)}, "codes are float32 (2000, 3), not (n, 2) numbers"),
]


@pytest.mark.parametrize("arrays, reason", [pytest.param(c[1], c[2], id=c[0]) for c in HISTORY])
def test_a_damaged_history_record(finished_run, tmp_path, arrays, reason):
    """A history record holds an epoch's pictures, not the run's result: `aekl
    movie` refuses it naming the file, while the run stays finished in the
    list and the app shows the epoch without its pictures, saying why."""
    shutil.copytree(finished_run, tmp_path / "r")
    path = tmp_path / "r" / "history" / "epoch-0001.npz"
    with np.load(path) as z:
        good = {k: z[k] for k in z.files}
    with open(path, "wb") as f:
        np.savez(f, **{**good, **arrays})

    moved = runner.invoke(cli, ["movie", "r", "--out", str(tmp_path)])
    assert moved.exit_code == 2 and "Traceback" not in moved.stderr
    (line,) = moved.stderr.strip().splitlines()
    assert "history/epoch-0001.npz is damaged" in line and reason in line
    (r,) = json.loads(runner.invoke(cli, ["runs", "--json", "--out", str(tmp_path)]).stdout)
    assert (r["status"], r["epochs"]) == ("finished", 1)
    assert asyncio.run(app_header(tmp_path, "r"))[0] == "finished"


def test_bad_progress_rows_are_skipped_not_fatal(finished_run, tmp_path):
    """Progress rows are hints between epochs, appended without fsync: bad ones
    are skipped by the follower, and a finished run still reads finished."""
    shutil.copytree(finished_run, tmp_path / "r")
    with open(tmp_path / "r" / "progress.jsonl", "a") as f:
        f.write('{"epoch": 1, "step": 3, "steps": 0, "loss": 1}\n{"epoch": "1"}\n[]\n{"loss": Infinity}\n')
    assert asyncio.run(app_header(tmp_path, "r")) == ("finished", "")
    assert os.path.isfile(tmp_path / "r" / "progress.jsonl")
