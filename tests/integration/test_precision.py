"""--precision: what auto picks and why, bf16 training close to fp32, exact resume in bf16,
and the run folder saying what ran."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from typer.testing import CliRunner

from core.cli import app
from core.config import AEConfig
from core.engine.fit import EpochEnd, Finished, Started, Stopped, fit
from core.engine.precision import resolve
from core.errors import BadInput
from core.nn.models import load_trained
from core.runfolder.runs import new_run, open_run

# Each case trains or starts processes: left out of the fast loop.
pytestmark = pytest.mark.slow

runner = CliRunner()


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            return next((set(line.split(":", 1)[1].split()) for line in f if line.startswith("flags")), set())
    except OSError:
        return set()


def test_auto_picks_bf16_only_where_the_cpu_has_it():
    native = bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})
    used, why = resolve("auto", torch.device("cpu"))
    assert used == ("bf16" if native else "fp32")
    assert why.startswith("auto: ") and ("BF16" in why)
    assert resolve("fp32", torch.device("cpu")) == ("fp32", "asked for")
    assert resolve("bf16", torch.device("cpu")) == ("bf16", "asked for")


def test_precision_is_checked_and_old_configs_mean_fp32():
    with pytest.raises(BadInput) as err:
        AEConfig(precision="fp16").validate()
    assert err.value.field == "precision"
    old = AEConfig().to_dict()
    del old["precision"]  # a config.json from before the field
    assert AEConfig.from_dict(old).precision == "fp32"


def test_bf16_trains_like_fp32_but_not_bit_for_bit(mnist_small, tiny_config):
    ends = {}
    for p in ("fp32", "bf16"):
        events = list(fit(replace(tiny_config, precision=p), mnist_small))
        assert events[0].precision == p and events[0].precision_why == "asked for"
        ends[p] = [e for e in events if isinstance(e, EpochEnd)]
    a, b = ends["fp32"][-1], ends["bf16"][-1]
    assert a.train_loss != b.train_loss  # the matmuls really ran in another arithmetic
    assert b.test_mse == pytest.approx(a.test_mse, rel=0.05)
    # the last epoch is evaluated on the whole test set, earlier ones on every 5th image
    assert [e.test_images for e in ends["bf16"]] == [2000, 10_000]


def test_stop_then_resume_in_bf16_equals_uninterrupted(tmp_path, mnist_small, tiny_config):
    config = replace(tiny_config, precision="bf16", epochs=2)
    whole = new_run(config, tmp_path, name="whole")
    list(fit(config, mnist_small, run=whole))

    parted = new_run(config, tmp_path, name="parted")
    polls = iter(range(10_000))
    events = list(fit(config, mnist_small, run=parted, should_stop=lambda: next(polls) >= 11))
    assert isinstance(events[-1], Stopped) and (events[-1].epoch, events[-1].step) == (1, 3)
    events = list(fit(config, mnist_small, run=open_run("parted", tmp_path), resume=True))
    assert isinstance(events[0], Started) and events[0].precision == "bf16"
    assert isinstance(events[-1], Finished)
    a, _ = load_trained(whole)
    b, _ = load_trained(parted)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert pa.dtype == torch.float32 and torch.equal(pa, pb), name  # fp32 master weights, bit for bit


def test_train_records_what_ran_and_why(tmp_path):
    result = runner.invoke(app, ["train", "--subset", "256", "--epochs", "1", "--hidden", "32", "--batch-size", "64",
                                 "--precision", "auto", "--out", str(tmp_path), "--name", "p", "--json"])
    assert result.exit_code == 0, result.stderr
    used, why = resolve("auto", torch.device("cpu"))
    run = open_run("p", tmp_path)
    assert run.config().precision == "auto"  # config.json: what was asked; status.json: what ran
    status = run.status()
    assert (status["precision"], status["precision_why"]) == (used, why)
    started = json.loads(result.stdout.splitlines()[0])
    assert started["precision"] == used and started["precision_why"] == why
    finished = json.loads(result.stdout.splitlines()[-1])
    assert finished["precision"] == f"{used} ({why})"


def test_unknown_precision_is_one_line(tmp_path):
    result = runner.invoke(app, ["train", "--precision", "fp16", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "precision" in result.stderr and "fp16" in result.stderr and "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir())
