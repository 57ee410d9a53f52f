"""The follower on run folders written by hand, file by file, as the trainer's
journal writes them: config.json, status.json, metrics.jsonl, progress.jsonl
and history/epoch-NNNN.npz. No trainer, no torch: each case (event order, a
tail rewritten by a resume, a folder deleted under the reader, agreement
with the CLI's reader) is set up exactly, in milliseconds.

The folder is written with json and numpy rather than through the journal so
that these tests pin the files' format, which other processes rely on."""

from __future__ import annotations

import json
from dataclasses import replace
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from core.cli import app
from core.config import AEConfig
from core.events import EpochEnd, Failed, Finished, Progress, Started, Stopped
from core.runfolder.follow import follow
from core.runfolder.lock import acquire, release
from core.runfolder.runs import Run, list_runs
from standin import stand_in_checkpoint

STEPS = 4  # steps per epoch
CODES = 50  # test codes in each snapshot
CONFIG = AEConfig(hidden=(16,), epochs=3, batch_size=128, subset=512)


def row(epoch: int) -> dict:
    """A metrics line; the numbers differ per epoch so a mix-up shows."""
    return {"epoch": epoch, "train_loss": 0.5 / epoch, "train_mse": 0.5 / epoch, "test_loss": 0.4 / epoch,
            "test_mse": 0.4 / epoch, "seconds": 1.25, "samples_per_s": 512.0, "lr": 0.003}


def snapshot(epoch: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(epoch)
    return {"codes": rng.normal(size=(CODES, 2)).astype(np.float32), "labels": np.arange(CODES) % 10,
            "frames": rng.uniform(-1, 1, size=(10, 28, 28)).astype(np.float16), "pair": np.array([0, 3])}


def append(path, *rows) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows))


def write_status(folder, status: str, epoch: int, step: int = 0, **extra) -> None:
    body = {"status": status, "epoch": epoch, "step": step, "device": "cpu", "params": 1234, "train_size": 512,
            "steps_per_epoch": STEPS, **extra}
    (folder / "status.json").write_text(json.dumps(body))


def write_epoch(folder, epoch: int, row_=None) -> None:
    """One epoch as the journal leaves it: its steps, its snapshot, its metrics line, then
    its checkpoint (a stand-in: a zip, as torch.save writes; no reader here loads it)."""
    append(folder / "progress.jsonl", *({"epoch": epoch, "step": s, "steps": STEPS, "loss": 1.0 / (epoch * s),
                                         "samples_per_s": 500.0, "t": 0.0} for s in range(1, STEPS + 1)))
    (folder / "history").mkdir(exist_ok=True)
    np.savez(folder / "history" / f"epoch-{epoch:04d}.npz", **snapshot(epoch))
    append(folder / "metrics.jsonl", row_ or row(epoch))
    stand_in_checkpoint(folder / "checkpoint.pt", f"epoch {epoch}")


@pytest.fixture
def folder(tmp_path):
    folder = tmp_path / "runs" / "synthetic"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(CONFIG.to_dict()))
    return folder


def finished(folder, epochs: int = 3):
    for epoch in range(1, epochs + 1):
        write_epoch(folder, epoch)
    write_status(folder, "finished", epochs, seconds=3.75, files={"loss": str(folder / "loss.png")})


def kinds(events) -> list[str]:
    return [type(e).__name__ for e in events]


@pytest.mark.parametrize("live", [False, True])
def test_a_finished_run_reads_back_in_order_with_its_numbers(folder, live):
    finished(folder)
    events = list(follow(Run(folder), live=live, poll=0.01))
    assert kinds(events) == ["Started"] + (["Progress"] * STEPS + ["EpochEnd"]) * 3 + ["Finished"]

    start = events[0]
    assert isinstance(start, Started) and start.config == CONFIG
    assert (start.device, start.params, start.train_size, start.steps_per_epoch) == ("cpu", 1234, 512, STEPS)
    steps = [e for e in events if isinstance(e, Progress)]
    assert [(p.epoch, p.step) for p in steps] == [(e, s) for e in (1, 2, 3) for s in range(1, STEPS + 1)]
    assert [p.loss for p in steps] == [1.0 / (e * s) for e in (1, 2, 3) for s in range(1, STEPS + 1)]
    ends = [e for e in events if isinstance(e, EpochEnd)]
    for epoch, end in enumerate(ends, start=1):
        assert (end.epoch, end.epochs, end.test_mse, end.train_mse) == (epoch, 3, 0.4 / epoch, 0.5 / epoch)
        arrays = snapshot(epoch)
        np.testing.assert_array_equal(end.codes, arrays["codes"])
        np.testing.assert_array_equal(end.labels, arrays["labels"])
        np.testing.assert_array_equal(end.frames, arrays["frames"].astype(np.float32))
        assert tuple(end.pair) == (0, 3)
    final = events[-1]
    assert isinstance(final, Finished) and (final.epochs, final.test_mse, final.seconds) == (3, 0.4 / 3, 3.75)
    assert final.files == {"loss": str(folder / "loss.png")}


def test_steps_of_the_next_epoch_wait_for_the_epoch_before_to_end(folder):
    """The trainer writes epoch 2's steps before a slow reader sees epoch 1's
    metrics line; the events still come in training order."""
    write_epoch(folder, 1)
    append(folder / "progress.jsonl", {"epoch": 2, "step": 1, "steps": STEPS, "loss": 0.1, "samples_per_s": 1.0})
    write_status(folder, "stopped", 1, 1)
    events = list(follow(Run(folder), live=False))
    assert kinds(events) == ["Started"] + ["Progress"] * STEPS + ["EpochEnd", "Progress", "Stopped"]
    assert (events[-2].epoch, events[-2].step) == (2, 1)
    assert isinstance(events[-1], Stopped) and (events[-1].epoch, events[-1].step) == (1, 1)


def test_partial_lines_and_a_cut_snapshot_are_left_out(folder):
    """A kill mid-write leaves half a line and half a file; neither is read as data."""
    (folder / "config.json").write_text(json.dumps(replace(CONFIG, epochs=2).to_dict()))  # finished after 2 of 2
    finished(folder, epochs=2)
    with open(folder / "progress.jsonl", "a") as f:
        f.write('{"epoch": 3, "step": 1, "ste')
    with open(folder / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 3, "train_lo')
    cut = folder / "history" / "epoch-0002.npz"
    cut.write_bytes(cut.read_bytes()[:100])
    events = list(follow(Run(folder), live=False))
    ends = [e for e in events if isinstance(e, EpochEnd)]
    assert [e.epoch for e in ends] == [1, 2] and ends[1].test_mse == 0.2
    assert ends[0].codes.shape == (CODES, 2) and ends[1].codes.shape[0] == 0  # the cut one has no arrays
    assert max(e.epoch for e in events if isinstance(e, Progress)) == 2 and isinstance(events[-1], Finished)


def test_a_killed_writer_ends_the_reader_as_interrupted(folder):
    write_epoch(folder, 1)
    write_status(folder, "running", 1, 0)  # no process holds the lock any more
    events = list(follow(Run(folder), poll=0.01))
    assert kinds(events)[-2:] == ["EpochEnd", "Failed"]
    assert events[-1].status == "interrupted" and events[-1].epoch == 1 and events[-1].reason


def next_until(events, kind, limit: int = 10_000):
    """Events from a live follower up to and including the first of `kind`."""
    got = []
    for event in events:
        got.append(event)
        if isinstance(event, kind):
            return got
        assert len(got) < limit, kinds(got)[-20:]
    raise AssertionError(f"the follower ended before a {kind.__name__}: {kinds(got)[-20:]}")


@pytest.fixture
def live_folder(folder):
    """A run this process holds the lock of, as its trainer would: `running` means live."""
    acquire(folder)
    yield folder
    release(folder)


def test_a_tail_rewritten_by_a_resume_is_read_again(live_folder):
    """Three epochs, then a resume from epoch 1's checkpoint drops epochs 2-3 and
    trains a different epoch 2: the reader starts over and reports the new one."""
    folder = live_folder
    for epoch in (1, 2, 3):
        write_epoch(folder, epoch)
    write_status(folder, "running", 3, 0)
    events = follow(Run(folder), poll=0.01)
    first = next_until(events, EpochEnd) + next_until(events, EpochEnd) + next_until(events, EpochEnd)
    assert [e.epoch for e in first if isinstance(e, EpochEnd)] == [1, 2, 3]

    # what the journal's restore does: keep the lines up to the checkpoint's epoch
    lines = (folder / "metrics.jsonl").read_text().splitlines(keepends=True)
    (folder / "metrics.jsonl").write_text(lines[0])
    steps = (folder / "progress.jsonl").read_text().splitlines(keepends=True)
    (folder / "progress.jsonl").write_text("".join(steps[:STEPS]))
    for epoch in (2, 3):
        (folder / "history" / f"epoch-{epoch:04d}.npz").unlink()
    again = next_until(events, EpochEnd)
    assert kinds(again)[-(STEPS + 2):] == ["Started"] + ["Progress"] * STEPS + ["EpochEnd"]
    assert again[-1].epoch == 1

    write_epoch(folder, 2, {**row(2), "test_mse": 0.05})
    write_epoch(folder, 3, {**row(3), "test_mse": 0.04})
    write_status(folder, "finished", 3)
    release(folder)
    rest = list(events)
    ends = [e for e in rest if isinstance(e, EpochEnd)]
    assert [(e.epoch, e.test_mse) for e in ends] == [(2, 0.05), (3, 0.04)]
    assert isinstance(rest[-1], Finished) and rest[-1].test_mse == 0.04


def test_a_folder_deleted_under_the_reader_ends_it_with_a_reason(live_folder):
    write_epoch(live_folder, 1)
    write_status(live_folder, "running", 1, 0)
    events = follow(Run(live_folder), poll=0.01)
    next_until(events, EpochEnd)
    shutil.rmtree(live_folder)
    final = list(events)[-1]
    assert isinstance(final, Failed) and "deleted" in final.reason


@pytest.mark.parametrize("status, epochs", [("finished", 3), ("stopped", 2), ("running", 2)])
def test_the_follower_and_the_cli_reader_agree(folder, status, epochs):
    """`aekl runs` and the follower read one folder: one status, one epoch count, one best MSE."""
    for epoch in range(1, epochs + 1):
        write_epoch(folder, epoch)
    write_status(folder, status, epochs)
    events = list(follow(Run(folder), live=False))
    ends = [e for e in events if isinstance(e, EpochEnd)]
    final = events[-1]
    word = {Finished: "finished", Stopped: "stopped"}.get(type(final)) or final.status

    (listed,) = list_runs(folder.parent)
    assert (listed["status"], listed["epochs"], listed["planned"]) == (word, len(ends), 3)
    assert listed["best_test_mse"] == min(e.test_mse for e in ends)
    shown = CliRunner().invoke(app, ["show", folder.name, "--out", str(folder.parent), "--json"])
    assert shown.exit_code == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert body["state"] == word and [m["test_mse"] for m in body["metrics"]] == [e.test_mse for e in ends]
