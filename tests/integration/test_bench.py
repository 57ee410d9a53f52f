"""`aekl bench` on a tiny configuration: it runs and writes a well-formed bench.json.

The speed targets are a benchmark's business (run `aekl bench` on an idle
machine), not a test's: here only the shape and sign of the numbers count.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from typer.testing import CliRunner

from core.cli import app

runner = CliRunner()
TINY = ["--device", "cpu", "--subset", "512", "--samples", "512", "--repeats", "2", "--warmup", "1", "--processes", "1"]


def torch_peak_mb() -> float:
    """Peak resident MB of a fresh interpreter that imports torch, read from its
    own VmHWM (a new address space at exec: the parent's peak is not inherited,
    as it is in ru_maxrss)."""
    code = ("import torch\n"
            "print([ln for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0].split()[1])")
    return int(subprocess.check_output([sys.executable, "-c", code], text=True)) / 1024


def targets_agree_with_the_numbers(body):
    """Each verdict in `met` follows from the bench's own numbers and the limit it states."""
    limits, met, ratios = body["targets"], body["targets"]["met"], body["ratios"]
    assert set(met) == {"engine_vs_floor", "engine_vs_tutorial", "time_to_quality", "added_memory", "first_step",
                        "epoch_overhead", "one_epoch_fixed"}
    assert met["one_epoch_fixed"] == (body["process"]["one_epoch_fixed_s"]["min"] <= limits["one_epoch_fixed_s_max"])
    first = str(body["setup"]["batch_sizes"][0])  # the default batch; the others are extras
    assert met["engine_vs_floor"] == (ratios["engine_vs_floor"][first]["from_min"] <= limits["engine_vs_floor_max"])
    assert met["engine_vs_tutorial"] == (ratios["engine_vs_tutorial"]["from_min"] >= limits["engine_vs_tutorial_min"])
    assert met["added_memory"] == (body["process"]["added_mb"]["min"] <= limits["added_memory_mb_max"])
    assert met["first_step"] == (body["process"]["to_first_step_s"]["min"] < limits["first_step_s_max"])
    assert met["epoch_overhead"] == (body["epoch_overhead"]["fraction"]["min"] <= limits["epoch_overhead_max"])
    quick = ratios["time_to_quality"]
    assert met["time_to_quality"] == (quick["engine_reached"] and quick["from_min"] >= limits["time_to_quality_min"])


def positive_stats(stats):
    assert len(stats["runs"]) == 2 and all(v > 0 for v in stats["runs"])
    assert 0 < stats["min"] <= stats["median"]


@pytest.mark.slow
def test_bench_writes_bench_json_in_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["bench", *TINY, "--batch-size", "128", "--quality", "--target", "0.5",
                                 "--max-epochs", "2", "--json"])
    assert result.exit_code == 0, result.stderr
    body = json.loads((tmp_path / "bench.json").read_text())
    assert json.loads(result.stdout) == body  # --json: stdout is the file's object, nothing else

    setup = body["setup"]
    assert setup["train_images"] == 512 and setup["samples"] == 512 and setup["batch_sizes"] == [256, 128]
    assert body["machine"]["cores"] >= 1 and body["machine"]["device"] == "cpu"
    used = body["precision"]["used"]
    assert used in ("fp32", "bf16") and body["precision"]["why"]
    assert body["precision"]["floors"][0] == "fp32" and used in body["precision"]["floors"]
    assert set(body["floors"]) == set(body["precision"]["floors"])
    for batch in ("256", "128"):
        for part in [body["engine"], *body["floors"].values()]:
            for key in ("steps_per_s", "samples_per_s", "epoch_s"):
                positive_stats(part[batch][key])
        assert body["floor"][batch] == body["floors"][used][batch]  # the floor of the engine's precision
        floor = body["ratios"]["engine_vs_floor"][batch]
        assert floor["from_min"] == pytest.approx(body["engine"][batch]["epoch_s"]["min"]
                                                  / body["floors"][used][batch]["epoch_s"]["min"], rel=1e-3)
        fp32 = body["ratios"]["engine_vs_fp32_floor"][batch]
        assert fp32["from_min"] == pytest.approx(body["engine"][batch]["epoch_s"]["min"]
                                                 / body["floors"]["fp32"][batch]["epoch_s"]["min"], rel=1e-3)
        assert len(floor["per_repeat"]) == 2
    positive_stats(body["tutorial"]["samples_per_s"])
    assert body["ratios"]["engine_vs_tutorial"]["from_min"] > 0

    quality = body["quality"]
    assert quality["target_test_mse"] == 0.5
    for side in ("engine", "tutorial"):
        positive_stats(quality[side]["from_start_s"])
        for run in quality[side]["runs"]:
            assert run["epochs"] >= 1 and 0 < run["test_mse"] < 4 and run["wall_s"] >= run["train_s"]
            # the frontier: one (epoch, training seconds so far, test MSE) per epoch, ending where the run ended
            assert [c[0] for c in run["curve"]] == list(range(1, run["epochs"] + 1))
            assert run["curve"][-1][1:] == [pytest.approx(run["train_s"]), pytest.approx(run["test_mse"], abs=1e-5)]
        # from process start: the fresh process's start-up comes on top of the training
        assert quality[side]["start_s"] > 0
        assert quality[side]["from_start_s"]["min"] > min(r["train_s"] for r in quality[side]["runs"])
    assert body["ratios"]["time_to_quality"]["from_min"] > 0
    targets_agree_with_the_numbers(body)

    # one fresh `import torch` and one fresh `aekl train --epochs 1` (--processes 1)
    proc = body["process"]
    assert setup["processes"] == 1
    train, torch_only, added = proc["train_peak_mb"], proc["import_torch_peak_mb"], proc["added_mb"]
    assert len(train["runs"]) == len(torch_only["runs"]) == len(added["runs"]) == 1
    # torch alone, read here another way (VmHWM just after the import; the bench
    # takes ru_maxrss over the child's whole life, exit included): the same
    # size, not a unit off; a training process holds torch and more
    assert torch_only["min"] == pytest.approx(torch_peak_mb(), rel=0.5)
    assert torch_only["min"] < train["min"]
    assert added["min"] == pytest.approx(train["min"] - torch_only["min"], abs=1e-5)
    assert 0 < proc["to_started_s"]["min"] <= proc["to_first_step_s"]["min"]
    assert proc["import_torch_s"]["min"] > 0
    # fixed cost of the one-epoch run: its wall time less its training and a bare import torch
    (wall,), (train_s,), (imp,) = (proc[k]["runs"] for k in ("one_epoch_wall_s", "one_epoch_train_s", "import_torch_s"))
    assert 0 < train_s < wall
    assert proc["one_epoch_fixed_s"]["runs"] == [pytest.approx(wall - train_s - imp, abs=1e-5)]
    assert proc["figures_after_exit_s"]["min"] >= 0 and proc["tutorial_start_s"]["min"] > 0

    # 512 images at batch 256 are 2 steps an epoch: each repeat met epoch ends, each one overhead
    over = body["epoch_overhead"]
    assert len(over["seconds"]["runs"]) >= 2 and over["seconds"]["min"] > 0
    assert all(0 < f < 1 for f in over["fraction"]["runs"])
    gap = body["engine_vs_floor_gap"]
    # the default autoencoder on the CPU trains with the hand-written step, whose matmuls bench times too
    parts = gap["step_parts_s"]
    assert set(parts) == {"batch", "forward", "backward", "optimizer", "floor_forward", "floor_backward",
                          "matmuls_in_step"}
    assert all(v > 0 for v in parts.values())
    assert parts["matmuls_in_step"] < parts["forward"] + parts["backward"]
    fastest_floor_step = 1 / max(body["floor"]["256"]["steps_per_s"]["runs"])  # the headline floor's best
    assert gap["matmuls_in_step_vs_floor"] == pytest.approx(parts["matmuls_in_step"] / fastest_floor_step, rel=1e-2)
    assert over["first_epoch_end_s"]["min"] > 0
    assert set(gap["gap_s"]) == set(gap["gap_vs_floor"]) == {"forward_beyond_matmuls", "backward_beyond_matmuls",
                                                             "optimizer", "batch", "loop"}
    floor = gap["step_parts_s"]["floor_forward"] + gap["step_parts_s"]["floor_backward"]
    assert gap["gap_vs_floor"]["optimizer"] == pytest.approx(gap["step_parts_s"]["optimizer"] / floor, abs=1e-3)
    assert body["host_sync"]["syncs_per_step"] is None  # CPU: no device to wait for
    assert body["tui_overhead"]["measured"] is False and "TUI" in body["tui_overhead"]["how"]


@pytest.mark.slow
def test_bench_tables_and_out_folder(tmp_path):
    result = runner.invoke(app, ["bench", *TINY, "--repeats", "1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    assert "engine / tutorial" in result.stdout and "floor (matmuls only)" in result.stdout
    assert "aekl's addition (difference)" in result.stdout and "command to first training step" in result.stdout
    assert "beyond training + import torch" in result.stdout and "load average" in result.stdout
    assert "fp32 floor (matmuls only)" in result.stdout
    assert "per-epoch overhead, share of the epoch" in result.stdout and "engine beyond the floor" in result.stdout
    body = json.loads((tmp_path / "bench.json").read_text())
    assert body["quality"] is None and list(body["engine"]) == ["256"]
    assert len(body["engine"]["256"]["epoch_s"]["runs"]) == 1


def test_bench_rejects_bad_numbers(tmp_path):
    result = runner.invoke(app, ["bench", "--repeats", "0", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--repeats must be at least 1" in result.stderr
    assert not (tmp_path / "bench.json").exists()
