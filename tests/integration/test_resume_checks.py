"""A checkpoint is untrusted: a resume refuses one whose counters, batch order
or config do not fit the run, before it changes anything; and the messages
around a failed or refused run say what really happened."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from core.cli import app
from core.config import AEConfig
from core.errors import TrainingFailed
from core.runfolder.runs import Status, new_run

runner = CliRunner()
SUBSET = 256  # the images of the stopped_run fixture (tests/integration/conftest.py)


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "lock"}


@pytest.fixture
def run_copy(tmp_path, stopped_run):
    shutil.copytree(stopped_run, tmp_path / "r")
    return tmp_path / "r"


def edit_checkpoint(run: Path, change) -> None:
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    change(state)
    torch.save(state, run / "checkpoint.pt")


def setter(key, value):
    return lambda state: state.__setitem__(key, value)


CHECKPOINTS = [
    ("negative-epoch", setter("epoch", -3), "epoch -3 is outside 0..2"),
    ("epoch-beyond-the-run", setter("epoch", 7), "epoch 7 is outside 0..2"),
    ("bool-epoch", setter("epoch", True), "epoch is True, not a whole number"),
    ("text-step", setter("step", "0"), "step is '0', not a whole number"),
    ("step-beyond-the-epoch", setter("step", 10 ** 6), "step 1000000 is outside"),
    ("no-perm", lambda s: s.pop("perm"), "holds no batch order"),
    ("perm-out-of-range", lambda s: s.__setitem__("perm", s["perm"] + SUBSET), "not an order of the 256"),
    ("perm-repeats", lambda s: s.__setitem__("perm", torch.zeros(SUBSET, dtype=torch.long)), "not an order of"),
    ("perm-too-short", lambda s: s.__setitem__("perm", s["perm"][:10]), "not an order of"),
    ("perm-floats", lambda s: s.__setitem__("perm", s["perm"].double()), "holds no batch order"),
    ("no-sums", lambda s: s.pop("sums"), "epoch sums are missing"),
    ("no-trained-weights", lambda s: s.pop("trained_model"), "not the trained ones (trained_model)"),
    ("trained-weights-not-tensors", setter("trained_model", {"w": 3}), "trained_model holds something other"),
]


@pytest.mark.parametrize("change, needle", [c[1:] for c in CHECKPOINTS], ids=[c[0] for c in CHECKPOINTS])
def test_a_damaged_checkpoint_is_refused_and_changes_nothing(run_copy, change, needle):
    edit_checkpoint(run_copy, change)
    before = digest(run_copy)
    result = runner.invoke(app, ["train", "--resume", "r", "--out", str(run_copy.parent)])
    assert result.exit_code == 2, (result.stderr, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "checkpoint.pt is damaged" in lines[0] and needle in lines[0], lines
    assert digest(run_copy) == before


@pytest.mark.parametrize("key, value, shown", [("subset", 512, "subset: 256 in the checkpoint, 512 in config.json"),
                                               ("beta", 1e308, "beta: 1.0 in the checkpoint, 1e+308 in config.json"),
                                               ("lr", 0.5, "lr: 0.003 in the checkpoint, 0.5 in config.json")])
def test_an_edited_config_is_not_resumed(run_copy, key, value, shown):
    config = json.loads((run_copy / "config.json").read_text())
    config[key] = value
    (run_copy / "config.json").write_text(json.dumps(config))
    before = digest(run_copy)
    result = runner.invoke(app, ["train", "--resume", "r", "--out", str(run_copy.parent)])
    if "must" in result.stderr:  # the config's own rules may refuse the value first
        assert result.exit_code == 2
        return
    assert result.exit_code == 2, (result.stderr, result.exception)
    assert "r/checkpoint.pt does not fit config.json" in result.stderr and shown in result.stderr
    assert digest(run_copy) == before


def test_a_run_whose_status_is_new_is_not_said_to_lack_a_checkpoint(run_copy):
    status = json.loads((run_copy / "status.json").read_text())
    (run_copy / "status.json").write_text(json.dumps({**status, "status": "new"}))
    result = runner.invoke(app, ["train", "--resume", "r", "--out", str(run_copy.parent)])
    assert result.exit_code == 2
    assert "says the run is new, but metrics.jsonl holds 1 epoch" in result.stderr
    assert "no checkpoint" not in result.stderr


def test_a_refused_resume_leaves_the_status_as_it_was(run_copy):
    import os

    before = (run_copy / "status.json").read_bytes()
    (run_copy / "progress.jsonl").unlink(missing_ok=True)
    os.mkfifo(run_copy / "progress.jsonl")  # opening it to append would fail (or hang, without O_NONBLOCK)
    result = runner.invoke(app, ["train", "--resume", "r", "--out", str(run_copy.parent)])
    assert result.exit_code == 2 and "progress.jsonl is damaged: not a regular file" in result.stderr
    assert (run_copy / "status.json").read_bytes() == before  # not turned into a "running" nobody ends


@pytest.mark.slow  # trains an epoch and draws the figures in a child
def test_the_resumed_run_still_matches_the_run_it_continues(run_copy):
    result = runner.invoke(app, ["train", "--resume", "r", "--out", str(run_copy.parent)])
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in (run_copy / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert sorted(p.name for p in (run_copy / "history").iterdir()) == ["epoch-0001.npz", "epoch-0002.npz"]


def test_a_failure_writing_epoch_1_is_not_called_epoch_2(tmp_path):
    from core.data.mnist import load_mnist
    from core.engine.fit import fit

    config = AEConfig(hidden=(32,), epochs=1, batch_size=64, subset=SUBSET)
    run = new_run(config, tmp_path, name="one")
    (run.path / "history").mkdir()
    (run.path / "history" / "epoch-0001.npz").mkdir()  # the snapshot cannot be written
    with pytest.raises(TrainingFailed) as caught:
        list(fit(config, load_mnist(subset=SUBSET), run=run))
    message = str(caught.value)
    assert "while saving epoch 1" in message and "epoch 2" not in message
    assert run.status()["status"] == Status.FAILED.value


@pytest.mark.parametrize("changes, advice", [
    ({"kind": "vae", "beta": 1e308}, "smaller --beta"),
    ({"kind": "vae", "free_bits": 1e308}, "smaller --free-bits"),
    ({"kind": "vae", "lr": 10.0}, "lower learning rate than 10"),
    ({"kind": "ae", "lr": 10.0}, "lower learning rate than 10"),
])
def test_divergence_advice_names_the_setting_that_overflows(changes, advice):
    from core.engine.fit import divergence_advice

    assert advice in divergence_advice(AEConfig(**changes))


def test_a_file_given_as_data_folder_is_called_a_file(tmp_path):
    (tmp_path / "passwd").write_text("root:x:0:0")
    result = runner.invoke(app, ["train", "--epochs", "1", "--data-dir", str(tmp_path / "passwd"),
                                 "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "is not a folder" in result.stderr and "does not exist" not in result.stderr


def test_kl_of_a_run_that_failed_before_any_weights_does_not_speak_of_resuming(tmp_path):
    run = new_run(AEConfig(kind="vae", latent=2, epochs=1), tmp_path, name="f")
    run.write_status(Status.FAILED, 0, 3, error="diverged")
    result = runner.invoke(app, ["kl", "--run", "f", "--index", "0", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "has no saved weights" in result.stderr and "resume" not in result.stderr


def test_a_dry_run_of_a_resume_names_the_run_it_refuses(run_copy):
    config = json.loads((run_copy / "config.json").read_text())
    (run_copy / "config.json").write_text(json.dumps({**config, "lr": 0.5}))
    result = runner.invoke(app, ["train", "--resume", "r", "--dry-run", "--out", str(run_copy.parent)])
    assert result.exit_code == 2
    assert f"{run_copy}/checkpoint.pt does not fit config.json" in result.stderr  # not "the run/checkpoint.pt"
