"""Runs you can leave and come back to: real `aekl train` processes, followed,
stopped, killed and resumed through their run folders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from core.cli import app
from core.events import EpochEnd, Failed, Finished, Progress, Started, Stopped
from core.runfolder.follow import follow
from core.runfolder.lock import holder
from core.runfolder.runs import Run, Status, open_run

pytestmark = pytest.mark.slow  # every test here starts real trainers

runner = CliRunner()
SMALL = ["--subset", "1024", "--batch-size", "64", "--hidden", "64,32"]
LAUNCH = [sys.executable, "-m", "core.cli", "train", "--json"]


def start(root, name, *extra, epochs=3):
    return subprocess.Popen([*LAUNCH, *SMALL, "--epochs", str(epochs), "--out", str(root), "--name", name, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(proc, event: str):
    """Read the trainer's JSON lines until `event` (the run is then really under way),
    then keep draining them: a full pipe would block the trainer mid-write."""
    import threading

    for line in proc.stdout:
        if json.loads(line)["event"] == event:
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return
    raise AssertionError(f"no {event}: {proc.stderr.read()}")


def weights(run):
    return torch.load(run.file("checkpoint.pt"), weights_only=True)["model"]


def test_a_reader_follows_a_live_run_to_its_end(tmp_path):
    proc = start(tmp_path, "live")
    while not (tmp_path / "live" / "config.json").is_file():
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    events = list(follow(Run(tmp_path / "live")))
    assert proc.wait(timeout=300) == 0
    assert isinstance(events[0], Started) and events[0].steps_per_epoch == 16 and events[0].device == "cpu"
    assert isinstance(events[-1], Finished) and events[-1].epochs == 3 and "latent" in events[-1].files
    ends = [e for e in events if isinstance(e, EpochEnd)]
    assert [e.epoch for e in ends] == [1, 2, 3]
    for e in ends:  # every epoch's snapshot, as fit yielded it
        assert e.codes.shape == (2000, 2) and e.labels.shape == (2000,) and e.frames.shape == (10, 28, 28)
    steps = [e for e in events if isinstance(e, Progress)]
    assert [(p.epoch, p.step) for p in steps] == [(ep, s) for ep in (1, 2, 3) for s in range(1, 17)]
    # each epoch's progress comes before its EpochEnd
    order = [type(e).__name__ for e in events if isinstance(e, (Progress, EpochEnd))]
    assert order == (["Progress"] * 16 + ["EpochEnd"]) * 3
    # replay of the ended run gives the same epochs and metrics
    again = [e for e in follow(Run(tmp_path / "live"), live=False) if isinstance(e, EpochEnd)]
    assert [e.test_mse for e in again] == [e.test_mse for e in ends]
    np.testing.assert_array_equal(again[-1].codes, ends[-1].codes)


def test_sigkill_leaves_an_interrupted_run_that_resumes_to_the_same_weights(tmp_path):
    whole = start(tmp_path, "whole")
    assert whole.wait(timeout=300) == 0
    proc = start(tmp_path, "cut")
    wait_for(proc, "EpochEnd")
    proc.kill()
    proc.wait()
    run = open_run("cut", tmp_path)
    assert run.status()["status"] == "running" and run.state() is Status.INTERRUPTED
    listed = runner.invoke(app, ["runs", "--out", str(tmp_path), "--json"])
    assert {r["id"]: r["status"] for r in json.loads(listed.stdout)}["cut"] == "interrupted"
    final = list(follow(run))[-1]
    assert isinstance(final, Failed) and final.status == "interrupted"
    resumed = runner.invoke(app, ["train", "--resume", "cut", "--out", str(tmp_path)])
    assert resumed.exit_code == 0, resumed.stderr
    assert run.state() is Status.FINISHED and [m["epoch"] for m in run.metrics()] == [1, 2, 3]
    for name, tensor in weights(open_run("whole", tmp_path)).items():
        torch.testing.assert_close(weights(run)[name], tensor, rtol=0, atol=0)


def test_killed_before_the_first_checkpoint_says_how_to_start_again(tmp_path):
    proc = start(tmp_path, "early")
    wait_for(proc, "Started")
    proc.kill()
    proc.wait()
    # On a fast box the kill can land after epoch 1's checkpoint; the case under
    # test is a folder whose trainer died before any, so make sure it has none.
    (tmp_path / "early" / "checkpoint.pt").unlink(missing_ok=True)
    result = runner.invoke(app, ["train", "--resume", "early", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "no checkpoint to resume from" in result.stderr
    assert "--force" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_aekl_stop_stops_a_live_run_and_a_second_writer_is_refused(tmp_path):
    proc = start(tmp_path, "busy", epochs=200)
    wait_for(proc, "EpochEnd")
    second = runner.invoke(app, ["train", "--resume", "busy", "--out", str(tmp_path)])
    assert second.exit_code == 2 and f"in use by process {proc.pid}" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    forced = runner.invoke(app, ["train", *SMALL, "--out", str(tmp_path), "--name", "busy", "--force"])
    assert forced.exit_code == 2 and f"in use by process {proc.pid}" in forced.stderr
    assert open_run("busy", tmp_path).config().epochs == 200  # untouched by the refused writers

    stopped = runner.invoke(app, ["stop", "busy", "--out", str(tmp_path)])
    assert stopped.exit_code == 0, stopped.stderr
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    run = open_run("busy", tmp_path)
    assert run.state() is Status.STOPPED and "stopped" in stopped.stdout
    again = runner.invoke(app, ["stop", "busy", "--out", str(tmp_path)])
    assert again.exit_code == 2 and "not training (status: stopped)" in again.stderr
    follow_end = list(follow(run))[-1]
    assert isinstance(follow_end, Stopped) and follow_end.epoch == run.status()["epoch"]


def test_aekl_stop_never_signals_a_process_that_is_not_the_trainer(tmp_path):
    """A run whose lock is held by some other program (a pid reused, say) is not signalled."""
    proc = start(tmp_path, "victim", epochs=1)
    assert proc.wait(timeout=300) == 0
    lock = tmp_path / "victim" / "lock"
    other = subprocess.Popen([sys.executable, "-c", "import fcntl,sys,time; f=open(sys.argv[1]); "
                              "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)", str(lock)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "held"
        lock.write_text(json.dumps({"pid": other.pid}))
        result = runner.invoke(app, ["stop", "victim", "--out", str(tmp_path)])
        assert result.exit_code == 2 and "is not an aekl training of it" in result.stderr
        assert other.poll() is None  # nothing signalled
    finally:
        other.kill()
        other.wait()


def test_sighup_to_the_app_leaves_a_launched_run_training(tmp_path):
    """A closed terminal hangs up the app's process group; the trainer has its own session."""
    script = (
        "import sys, time; from pathlib import Path; from core.config import AEConfig; "
        "from tui.launcher import launch; "
        "l = launch(AEConfig(hidden=(64, 32), epochs=2, batch_size=64, subset=1024), Path(sys.argv[1]), None); "
        "print(l.run.id, flush=True); time.sleep(120)"
    )
    viewer = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    run_id = viewer.stdout.readline().strip()
    os.killpg(viewer.pid, signal.SIGHUP)
    assert viewer.wait(timeout=30) == -signal.SIGHUP
    run = Run(tmp_path / run_id)
    deadline = time.monotonic() + 300
    while run.state() is not Status.FINISHED:
        assert time.monotonic() < deadline, run.status()
        time.sleep(0.5)
    assert [m["epoch"] for m in run.metrics()] == [1, 2] and holder(run.path) is None


def test_movie_has_one_frame_per_epoch(tmp_path):
    from PIL import Image

    assert start(tmp_path, "film").wait(timeout=300) == 0
    result = runner.invoke(app, ["movie", "film", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["frames"] == 3
    for name in ("latent", "interpolation"):
        with Image.open(body["files"][name]) as gif:
            assert gif.format == "GIF" and gif.n_frames == 3
    bad = runner.invoke(app, ["movie", "../x", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "not a run id" in bad.stderr


def test_a_history_cut_by_a_kill_reads_back_without_the_partial_record(tmp_path):
    assert start(tmp_path, "cut", epochs=2).wait(timeout=300) == 0
    run = open_run("cut", tmp_path)
    with open(run.file("progress.jsonl"), "a") as f:
        f.write('{"epoch": 3, "step": 1, "ste')  # a kill mid-line
    with open(run.file("metrics.jsonl"), "a") as f:
        f.write('{"epoch": 3, "train_lo')
    run.history_file(2).write_bytes(run.history_file(2).read_bytes()[:100])  # a truncated snapshot
    events = list(follow(run, live=False))
    ends = [e for e in events if isinstance(e, EpochEnd)]
    assert [e.epoch for e in ends] == [1, 2]
    assert ends[0].codes.shape == (2000, 2) and ends[1].codes.shape[0] == 0  # the damaged one has no arrays
    assert max(e.epoch for e in events if isinstance(e, Progress)) == 2
    assert isinstance(events[-1], Finished)


def test_a_run_folder_deleted_while_followed_ends_the_reader_with_a_reason(tmp_path):
    import shutil
    import threading

    proc = start(tmp_path, "doomed", epochs=200)
    wait_for(proc, "EpochEnd")
    events = []
    reader = threading.Thread(target=lambda: events.extend(follow(Run(tmp_path / "doomed"))))
    reader.start()
    deadline = time.monotonic() + 60
    while not any(isinstance(e, EpochEnd) for e in events):  # the reader is following the live run
        assert time.monotonic() < deadline and reader.is_alive(), events
        time.sleep(0.05)
    shutil.rmtree(tmp_path / "doomed", ignore_errors=True)  # under the live trainer's feet
    reader.join(timeout=10)
    proc.kill()
    proc.wait()
    assert not reader.is_alive()
    assert isinstance(events[-1], Failed) and "deleted" in events[-1].reason
