"""The run-folder reader: growing files read from where the last look stopped,
bounded lines, a rewrite seen as such, a follower that stops when asked, and
the one way every face words an epoch count."""

from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace

import pytest

from core.config import AEConfig
from core.errors import RunError
from core.events import EpochEnd, Started
from core.present.status import live_words
from core.runfolder.follow import follow
from core.runfolder.lock import acquire, release
from core.runfolder.reading import Tail
from core.runfolder.runs import new_run
from core.runfolder.schema import Status, epoch_text


def test_tail_hands_out_whole_new_lines_only(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2')
    tail = Tail(path, limit=1 << 20)
    assert tail.read() == [(1, b'{"a": 1}')]
    assert tail.read() == []  # nothing new: the half line waits
    with open(path, "ab") as f:
        f.write(b'}\n{"a": 3}\n')
    assert tail.read() == [(2, b'{"a": 2}'), (3, b'{"a": 3}')] and not tail.reset
    path.write_bytes(b'{"b": 1}\n')  # rewritten shorter (a resume): start over
    assert tail.read() == [(1, b'{"b": 1}')] and tail.reset  # from its first line, and says so
    assert tail.read() == [] and not tail.reset
    tail.close()


def test_tail_refuses_a_line_longer_than_its_bound(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b"x" * 5000)  # no newline: a partial line that only grows
    tail = Tail(path, limit=1 << 20, max_line=1000)
    with pytest.raises(RunError, match="line 1 is damaged: longer than 1,000 bytes"):
        tail.read()
    tail.close()


def test_tail_refuses_links_and_folders(tmp_path):
    (tmp_path / "real.jsonl").write_text("{}\n")
    (tmp_path / "link.jsonl").symlink_to("real.jsonl")
    (tmp_path / "dir.jsonl").mkdir()
    for name, why in (("link.jsonl", "a link"), ("dir.jsonl", "not a regular file")):
        with pytest.raises(RunError, match=why):
            Tail(tmp_path / name, limit=1 << 20).read()


@pytest.mark.parametrize("status, done, step, planned, words", [
    (Status.RUNNING, 18, 0, 20, "epoch 19 of 20, 18 done"),
    (Status.STOPPED, 18, 40, 20, "epoch 19 of 20, 18 done"),
    (Status.STOPPED, 18, 0, 20, "18 of 20 done"),
    (Status.FINISHED, 20, 0, 20, "20 of 20 done"),
    (Status.NEW, 0, 0, 20, "0 of 20 done"),
    (Status.INTERRUPTED, 20, 5, 20, "20 of 20 done"),  # nothing left to be in progress
])
def test_one_way_to_say_an_epoch_count(status, done, step, planned, words):
    assert live_words(status, done, planned, step)["epoch"] == words


def test_live_words_give_the_time_left_from_the_measured_speed():
    progress = SimpleNamespace(epoch=3, step=25, steps=100, samples_per_s=640.0)
    words = live_words(Status.RUNNING, 2, 5, 0, progress, batch_size=128)
    # 75 steps left in epoch 3, then 2 epochs of 100: 275 steps of 128 images at 640 images/s
    seconds = (75 + 2 * 100) * 128 / 640  # 55 s
    assert words == {"epoch": epoch_text(2, 3, 5), "step": "step 25/100", "rate": "640 img/s", "left": "55s left"}


def test_a_follower_of_a_live_run_stops_at_once_when_asked(tmp_path):
    run = new_run(AEConfig(hidden=(32,), epochs=3, subset=512), tmp_path, name="live")
    run.append_metrics({"epoch": 1, "train_mse": 0.2, "test_mse": 0.1, "seconds": 1.0, "samples_per_s": 9.0})
    run.file("status.json").write_text(json.dumps({"status": "running", "epoch": 1, "step": 0}))
    acquire(run.path)  # we are its writer: it stays live while followed
    stop = threading.Event()
    seen = []
    try:
        reader = threading.Thread(target=lambda: seen.extend(follow(run, poll=60.0, should_stop=stop.is_set)))
        reader.start()
        end = time.monotonic() + 30
        while len(seen) < 2 and time.monotonic() < end:
            time.sleep(0.01)
        assert [type(e) for e in seen] == [Started, EpochEnd]
        asked = time.monotonic()
        stop.set()
        reader.join(timeout=30)
        assert not reader.is_alive() and time.monotonic() - asked < 5  # far less than its 60 s poll
    finally:
        release(run.path)


def test_a_checkpoint_round_trips_and_leaves_torchs_crc_switch_as_it_was(tmp_path):
    import torch
    from torch.utils.serialization import config

    run = new_run(AEConfig(latent=2), tmp_path, "c")
    weights = {"w": torch.arange(6.0).reshape(2, 3)}
    before = config.save.compute_crc32
    run.save_checkpoint({"model": weights, "epoch": 1})
    assert config.save.compute_crc32 == before
    back = run.load_checkpoint()
    assert torch.equal(back["model"]["w"], weights["w"]) and back["epoch"] == 1
    assert [p.name for p in tmp_path.joinpath("c").iterdir() if p.name.endswith(".tmp")] == []


def test_a_name_another_start_holds_is_said_to_be_in_use_not_to_exist(tmp_path):
    import os

    from core.config import AEConfig
    from core.errors import RunError
    from core.runfolder.lock import release
    from core.runfolder.runs import new_run

    first = new_run(AEConfig(epochs=1), tmp_path, name="dup", keep_lock=True)  # the start that won
    try:
        with pytest.raises(RunError) as refused:
            new_run(AEConfig(epochs=1), tmp_path, name="dup")
        assert f"is in use by process {os.getpid()}" in refused.value.message
    finally:
        release(first.path)
    with pytest.raises(RunError, match="already exists"):  # once free, the usual answer
        new_run(AEConfig(epochs=1), tmp_path, name="dup")


@pytest.mark.parametrize("name", ["history/epoch-0001.npz", "latents.npz"])
def test_an_archive_declaring_gigabytes_is_refused_before_anything_is_allocated(tmp_path, name):
    import io
    import resource
    import zipfile

    import numpy as np

    from core.config import AEConfig
    from core.runfolder.runs import Run, new_run
    from core.runfolder.schema import Damaged

    run = new_run(AEConfig(epochs=1), tmp_path, name="r")
    # an npy header for (2e8, 2) float32 (1.6 GB) over a few bytes of data, deflated
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (200_000_000, 2)})
    path = run.path / name
    path.parent.mkdir(exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("codes.npy", header.getvalue() + b"\0" * 1000)
        archive.writestr("labels.npy", header.getvalue())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(Damaged, match="declare more than"):
        Run(run.path).history(1, 2) if name.startswith("history") else Run(run.path).latents()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KB: nothing near 1.6 GB
