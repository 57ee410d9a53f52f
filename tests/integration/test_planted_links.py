"""A table of planted symlinks and hard links driven through every writer.

Someone who can write a shared runs folder plants a link where aekl writes
(a file, a temp name, the history folder, the lock) pointing at a file of a
user's. Whatever the writer does (train --force, --resume, movie, latent,
interpolate), the user's files keep their bytes, and the command ends with
exit 0 or one line and exit 2, never a traceback.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.cli import app

runner = CliRunner()
TINY = ["--subset", "256", "--hidden", "32", "--batch-size", "64"]


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def world(tmp_path, stopped_run):
    """(runs folder with a copy of the run, the user's folder with files aekl must not touch)."""
    runs, user = tmp_path / "runs", tmp_path / "user"
    runs.mkdir()
    user.mkdir()
    shutil.copytree(stopped_run, runs / "r", symlinks=True)
    for name in ("thesis.txt", "epoch-0001.npz", "epoch-0002.npz", "lock"):
        (user / name).write_bytes(b"the user's " + name.encode())
    return runs, user


def symlink(name, target="thesis.txt"):
    def plant(run: Path, user: Path) -> None:
        path = run / name
        if path.exists() or path.is_symlink():
            path.unlink()
        path.symlink_to(user / target)
    return plant


def hardlink(name, target="thesis.txt"):
    def plant(run: Path, user: Path) -> None:
        path = run / name
        if path.exists():
            path.unlink()
        os.link(user / target, path)
    return plant


def history_link(run: Path, user: Path) -> None:
    shutil.rmtree(run / "history")
    (run / "history").symlink_to(user, target_is_directory=True)


RESUME = ["train", "--resume", "r"]
FORCE = ["train", *TINY, "--epochs", "1", "--name", "r", "--force"]
WRITERS = {"resume": RESUME, "force": FORCE, "movie": ["movie", "r"], "latent": ["latent", "r"],
           "interpolate": ["interpolate", "r", "--from-index", "0", "--to-index", "1"]}

CASES = [
    # (writer, what is planted, how)
    ("movie", "symlinked GIF temp name", symlink(".latent.tmp.gif")),
    ("movie", "symlinked second GIF temp name", symlink(".interpolation.tmp.gif")),
    ("movie", "symlinked GIF", symlink("latent.gif")),
    ("movie", "hard-linked GIF", hardlink("interpolation.gif")),
    ("latent", "symlinked latents.npz", symlink("latents.npz")),
    ("latent", "hard-linked PNG", hardlink("latent.png")),
    ("interpolate", "symlinked PNG", symlink("interpolation-0-1-linear.png")),
    ("force", "history folder as a link", history_link),
    ("force", "symlinked status", symlink("status.json")),
    ("force", "hard-linked checkpoint", hardlink("checkpoint.pt")),
    ("force", "hard-linked lock", hardlink("lock", "lock")),
    ("resume", "history folder as a link", history_link),
    ("resume", "hard-linked lock", hardlink("lock", "lock")),
    ("resume", "hard-linked metrics", hardlink("metrics.jsonl")),
    ("resume", "symlinked progress", symlink("progress.jsonl")),
    ("resume", "symlinked checkpoint temp name", symlink(".checkpoint.pt.tmp")),
]


# One case per figure writer in the fast loop. The others cost a run each: a
# trainer (force, resume) and a child drawing its figures, or the same writer again.
FAST = {("movie", "symlinked GIF"), ("latent", "hard-linked PNG"), ("interpolate", "symlinked PNG")}


@pytest.mark.parametrize("writer, what, plant", [
    pytest.param(w, what, plant, id=f"{w}-{what}", marks=() if (w, what) in FAST else pytest.mark.slow)
    for w, what, plant in CASES])
def test_a_planted_link_never_carries_a_write_outside(world, writer, what, plant):
    runs, user = world
    plant(runs / "r", user)
    before = digest(user)
    result = runner.invoke(app, [*WRITERS[writer], "--out", str(runs)])
    assert digest(user) == before, f"{writer} with a {what} changed the user's files"
    assert result.exit_code in (0, 2), (result.exit_code, result.stderr, result.exception)
    if result.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("aekl: error: "), result.stderr


@pytest.mark.parametrize("plant", [history_link, hardlink("lock", "lock")], ids=["history-link", "lock-hard-link"])
def test_what_cannot_be_written_safely_is_named(world, plant):
    runs, user = world
    plant(runs / "r", user)
    result = runner.invoke(app, [*RESUME, "--out", str(runs)])
    assert result.exit_code == 2
    assert "link" in result.stderr and "not writing" in result.stderr


@pytest.mark.parametrize("writer", ["resume", "force", "latent", "interpolate", "movie"])
def test_a_run_folder_that_is_a_link_is_refused_before_anything_in_it_is_written(world, writer):
    # the whole run folder is a link to another run (the user's): nothing of the target changes
    runs, user = world
    target = user / "theirs"
    shutil.move(runs / "r", target)
    (runs / "r").symlink_to(target, target_is_directory=True)
    before = digest(target)
    result = runner.invoke(app, [*WRITERS[writer], "--out", str(runs)])
    assert digest(target) == before and not any(p.name.startswith(".") for p in target.iterdir())
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and ("is a link" in lines[0] or "is not a run folder; not replacing" in lines[0])


@pytest.mark.slow  # a resume: trains an epoch and draws the figures in a child
def test_temp_files_of_a_killed_writer_are_cleaned_in_every_folder(world):
    runs, _ = world
    run = runs / "r"
    left = [run / ".status.json.0123abcd.tmp", run / "history" / ".epoch-0002.npz.4567ef01.tmp",
            run / ".latent.tmp.gif"]
    for path in left:
        path.write_bytes(b"half")
    result = runner.invoke(app, [*RESUME, "--out", str(runs)])
    assert result.exit_code == 0, result.stderr
    assert [p for p in left if p.exists()] == []
    assert sorted(p.name for p in (run / "history").iterdir()) == ["epoch-0001.npz", "epoch-0002.npz"]


def test_a_read_only_run_folder_is_one_line(world):
    runs, _ = world
    run = runs / "r"
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    os.chmod(run, 0o555)
    try:
        for command in (WRITERS["movie"], WRITERS["latent"], WRITERS["interpolate"]):
            result = runner.invoke(app, [*command, "--out", str(runs)])
            assert result.exit_code == 2, result.stderr
            assert len(result.stderr.strip().splitlines()) == 1 and "cannot write" in result.stderr
    finally:
        os.chmod(run, 0o755)
