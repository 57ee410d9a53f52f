"""`aekl bench` on a tiny configuration: it runs and writes a well-formed bench.json.

The speed targets are a benchmark's business (run `aekl bench` on an idle
machine), not a test's: here only the shape and sign of the numbers count.
"""

from __future__ import annotations

import json

from typer.testing import CliRunner

from core.cli import app

runner = CliRunner()
TINY = ["--device", "cpu", "--subset", "512", "--samples", "512", "--repeats", "2", "--warmup", "1"]


def positive_stats(stats):
    assert len(stats["runs"]) == 2 and all(v > 0 for v in stats["runs"])
    assert 0 < stats["min"] <= stats["median"]


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
    for batch in ("256", "128"):
        for part in ("engine", "floor"):
            for key in ("steps_per_s", "samples_per_s", "epoch_s"):
                positive_stats(body[part][batch][key])
        floor = body["ratios"]["engine_vs_floor"][batch]
        assert floor["from_min"] > 0 and floor["from_median"] > 0 and len(floor["per_repeat"]) == 2
    positive_stats(body["tutorial"]["samples_per_s"])
    assert body["ratios"]["engine_vs_tutorial"]["from_min"] > 0

    quality = body["quality"]
    assert quality["target_test_mse"] == 0.5
    for side in ("engine", "tutorial"):
        positive_stats(quality[side]["train_s"])
        for run in quality[side]["runs"]:
            assert run["epochs"] >= 1 and 0 < run["test_mse"] < 4 and run["wall_s"] >= run["train_s"]
    assert body["ratios"]["time_to_quality"]["from_min"] > 0
    assert set(body["targets"]["met"]) == {"engine_vs_floor", "engine_vs_tutorial", "time_to_quality"}
    assert body["host_sync"]["syncs_per_step"] is None  # CPU: no device to wait for
    assert body["tui_overhead"]["measured"] is False and "TUI" in body["tui_overhead"]["how"]


def test_bench_tables_and_out_folder(tmp_path):
    result = runner.invoke(app, ["bench", *TINY, "--repeats", "1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    assert "engine / tutorial" in result.stdout and "floor (matmuls only)" in result.stdout
    body = json.loads((tmp_path / "bench.json").read_text())
    assert body["quality"] is None and list(body["engine"]) == ["256"]
    assert len(body["engine"]["256"]["epoch_s"]["runs"]) == 1


def test_bench_rejects_bad_numbers(tmp_path):
    result = runner.invoke(app, ["bench", "--repeats", "0", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--repeats must be at least 1" in result.stderr
    assert not (tmp_path / "bench.json").exists()
