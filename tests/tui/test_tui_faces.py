"""One folder, one verdict: the same run folders read the same (status word,
epoch count, reason) in `aekl runs --json`, `aekl show`, the app's runs list
and the app's run header, for every kind of run there is.

The folders are built here by hand, file by file, as a trainer (or a crash,
or a hand edit) leaves them; the expected words are written out per kind.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from core.cli import app as cli
from core.config import AEConfig
from core.runfolder.lock import acquire, release
from core.runfolder.runs import new_run
from standin import stand_in_checkpoint
from tui.app import make_app
from tui.screens.run_detail import RunDetailScreen
from tui.widgets.run_list import RunList

runner = CliRunner()
ROW = {"train_loss": 0.2, "train_mse": 0.2, "test_loss": 0.1, "seconds": 1.0, "samples_per_s": 512.0, "lr": 0.003}
LOST = "its process ended without writing a final status (killed, out of memory, power)"

# name: (epochs in metrics.jsonl, status.json written or None, what is appended to metrics.jsonl,
#        expected: status word, epoch text, epochs in --json, a piece of the reason)
KINDS = {
    "finished": (3, {"status": "finished", "epoch": 3, "step": 0}, "", ("finished", "3 of 3 done", 3, "")),
    "stopped": (2, {"status": "stopped", "epoch": 2, "step": 7}, "", ("stopped", "epoch 3 of 3, 2 done", 2, "")),
    "stopped-between": (1, {"status": "stopped", "epoch": 1, "step": 0}, "", ("stopped", "1 of 3 done", 1, "")),
    "interrupted": (1, {"status": "running", "epoch": 1, "step": 4}, "",
                    ("interrupted", "epoch 2 of 3, 1 done", 1, LOST)),
    "failed": (1, {"status": "failed", "epoch": 1, "step": 2, "error": "the loss became nan in epoch 2"}, "",
               ("failed", "epoch 2 of 3, 1 done", 1, "the loss became nan in epoch 2")),
    "damaged": (3, {"status": "finished", "epoch": 3, "step": 0}, "garbage\n",
                ("damaged", "-", None, "metrics.jsonl: line 4 is damaged: not valid JSON")),
    "live": (1, {"status": "running", "epoch": 1, "step": 0}, "", ("running", "epoch 2 of 3, 1 done", 1, "")),
    # what a list can tell with a few stats, it tells, as resume or the app would
    "no-checkpoint": (2, {"status": "stopped", "epoch": 2, "step": 0}, "",
                      ("damaged", "-", None, "checkpoint.pt is damaged: missing, though 2 epochs are done")),
    "cut-checkpoint": (2, {"status": "stopped", "epoch": 2, "step": 0}, "",
                       ("damaged", "-", None, "checkpoint.pt is damaged: truncated or not a checkpoint")),
    "no-status": (2, None, "", ("damaged", "-", None, "status.json is damaged: missing, but metrics.jsonl holds 2")),
    "finished-short": (2, {"status": "finished", "epoch": 2, "step": 0}, "",
                       ("damaged", "-", None, "it says finished, but 2 of the 3 epochs are in metrics.jsonl")),
}
EDITS = {"no-checkpoint": lambda run: run.file("checkpoint.pt").unlink(),
         "cut-checkpoint": lambda run: run.file("checkpoint.pt").write_bytes(run.file("checkpoint.pt").read_bytes()[:40])}


def build(root, name, rows, status, tail):
    run = new_run(AEConfig(hidden=(32,), epochs=3, subset=512), root, name=name)
    for epoch in range(1, rows + 1):
        run.append_metrics({"epoch": epoch, **ROW, "test_mse": round(0.2 - epoch / 100, 4)})
    with open(run.file("metrics.jsonl"), "a") as f:
        f.write(tail)
    if rows:  # a stand-in checkpoint: a zip, as torch.save writes (the list looks no further)
        stand_in_checkpoint(run.file("checkpoint.pt"))
    if status is None:
        run.file("status.json").unlink(missing_ok=True)
    else:
        run.file("status.json").write_text(json.dumps(status))
    EDITS.get(name, lambda run: None)(run)
    return run


@pytest.fixture
def folders(runs_dir):
    runs = {name: build(runs_dir, name, *spec[:3]) for name, spec in KINDS.items()}
    acquire(runs["live"].path)  # this process is the live run's writer
    yield runs
    release(runs["live"].path)


def expected(name):
    return KINDS[name][3]


def test_runs_json_and_show_agree(folders, runs_dir):
    listed = runner.invoke(cli, ["runs", "--json", "--out", str(runs_dir)])
    assert listed.exit_code == 0, listed.stderr
    rows = {r["id"]: r for r in json.loads(listed.stdout)}
    assert set(rows) == set(KINDS)
    for name in KINDS:
        word, text, epochs, reason = expected(name)
        row = rows[name]
        assert (row["status"], row["epoch_text"], row["epochs"]) == (word, text, epochs), name
        assert reason in row.get("reason", ""), (name, row)

        shown = runner.invoke(cli, ["show", name, "--out", str(runs_dir)])
        if word == "damaged":
            assert shown.exit_code == 2 and shown.stdout == ""
            (line,) = shown.stderr.strip().splitlines()
            assert "damaged" in line and reason in line
            continue
        assert shown.exit_code == 0, shown.stderr
        head = " ".join(shown.stdout.split())
        assert f"{name} {'● ' if word == 'running' else ''}{word} {text}" in head, (name, head)
        assert reason in head

        as_json = json.loads(runner.invoke(cli, ["show", name, "--json", "--out", str(runs_dir)]).stdout)
        assert (as_json["state"], as_json["epoch_text"], as_json["epochs"]) == (word, text, epochs)


@pytest.mark.asyncio
async def test_the_app_list_agrees(folders, runs_dir, until):
    app = make_app(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("r")
        table = app.screen.query_one(RunList)
        await until(pilot, lambda: table.loaded, 30, "the runs list")
        by_id = {s.id: s for s in table.snaps}
        for name in KINDS:
            word, text_, epochs, reason = expected(name)
            snap = by_id[name]
            assert (str(snap.status), snap.epoch_text, snap.to_json()["epochs"]) == (word, text_, epochs), name
            assert reason in snap.reason


@pytest.mark.slow  # an app a kind of folder (the list above reads them all at once)
@pytest.mark.asyncio
async def test_the_run_header_agrees_for_every_kind(folders, runs_dir, until, text):
    for name in KINDS:
        word, text_, _, reason = expected(name)
        app = make_app(runs_dir=runs_dir, attach=name)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            assert isinstance(screen, RunDetailScreen)
            if word == "running":  # a live run: followed, not ended
                await until(pilot, lambda: screen.state is not None and "2 of 3" in text(app), 30, "the header")
            else:
                await until(pilot, lambda: screen.state is not None and screen.state.ended, 30, "the run's end")
            await pilot.pause(0.1)
            assert str(screen.state) == word, name
            assert reason in screen.reason, (name, screen.reason)
            header = text(app).splitlines()[0]
            assert word in header and (text_ in header or text_ == "-"), (name, header)


def test_a_folder_no_command_can_open_is_listed_as_damaged_with_what_to_do(folders, runs_dir):
    import shutil

    shutil.copytree(folders["finished"].path, runs_dir / "my run")  # a space: not a run id
    rows = {r["id"]: r for r in json.loads(runner.invoke(cli, ["runs", "--json", "--out", str(runs_dir)]).stdout)}
    assert rows["my run"]["status"] == "damaged" and "rename the folder" in rows["my run"]["reason"]
    assert rows["finished"]["status"] == "finished"  # its twin under a good name is as before
    shown = runner.invoke(cli, ["show", "my run", "--out", str(runs_dir)])
    assert shown.exit_code == 2 and "is not a run id" in shown.stderr
