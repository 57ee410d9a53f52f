"""The option table (core/config.py) drives every face: `aekl train`, `aekl sweep`,
`aekl-tui` and the app's launcher take the same flags with the same choices and
ranges, and a value out of range is one line naming the flag, exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from core.cli import app
from core.config import (ACTIVATIONS, DEVICES, KINDS, MAX_BETA, MAX_CYCLES, MAX_EPOCHS, MAX_FREE_BITS, MAX_LR,
                         MAX_SEED, OPTIONS, TRAIN_SIZE, AEConfig, flag_for)
from tui import app as tui_app
from tui.launcher import train_argv, write_config

runner = CliRunner()
WIDE = {"COLUMNS": "250", "TERM": "dumb", "NO_COLOR": "1"}

# A config that differs from the defaults in every field.
SAMPLE = AEConfig(latent=3, hidden=(64, 32), activation="gelu", kind="vae", beta=2.5, kl_schedule="cyclical",
                  kl_warmup=0.0, kl_cycles=3, free_bits=0.25, epochs=4, batch_size=128, lr=0.001, warmup=0.25,
                  adam_beta2=0.9, average=False,
                  seed=7, device="cpu", cuda_graphs=True, precision="fp32", threads=1, subset=1000, interp_from=3,
                  interp_to=9, interp_steps=6)


def command(group, name: str | None = None):
    cmd = typer.main.get_command(group)
    return cmd.get_command(None, name) if name else cmd


def flags_of(cmd) -> set[str]:
    return {opt for p in cmd.params for opt in [*p.opts, *p.secondary_opts]}


def sample_argv(config: AEConfig) -> list[str]:
    """Flags a person would type for `config` (written here from the field values, not by aekl)."""
    text = {"hidden": ",".join(map(str, config.hidden))}
    argv = []
    for name in OPTIONS:
        value = getattr(config, name)
        if isinstance(value, bool):  # a switch: --name or --no-name
            argv.append(flag_for(name) if value else flag_for(name).replace("--", "--no-", 1))
        else:
            argv += [flag_for(name), text.get(name, str(value))]
    return argv


def test_the_sample_differs_from_the_defaults_everywhere():
    default = AEConfig()
    same = [n for n in OPTIONS if getattr(SAMPLE, n) == getattr(default, n) and n != "kl_warmup"]
    assert same == [] and set(OPTIONS) == set(AEConfig.__dataclass_fields__)


def test_every_training_flag_of_aekl_train_is_a_flag_of_aekl_tui():
    train = flags_of(command(app, "train"))
    tui = flags_of(command(tui_app.cli))
    only_train = {"--name", "--force", "--no-force", "--resume", "--download", "--no-download", "--dry-run",
                  "--no-dry-run", "--json", "--no-json"}
    assert train - only_train <= tui, train - only_train - tui
    assert {"--latent", "-z", "--beta", "--kl-warmup", "--free-bits", "--hidden", "--kl-schedule", "--kl-cycles",
            "--config", "--out", "--data-dir"} <= tui


def test_aekl_tui_takes_every_option_into_its_form_config():
    options = tui_app.parse_options(sample_argv(SAMPLE))
    assert options["config"] == SAMPLE
    assert tui_app.make_app(**options).config == SAMPLE


def test_the_launchers_command_line_gives_aekl_train_the_forms_config(tmp_path):
    path = write_config(SAMPLE)
    try:
        argv = train_argv(tmp_path / "runs", None, path, "x")
        assert argv[1:4] == ["-m", "core.cli", "train"]
        params = command(app, "train").make_context("train", argv[4:]).params
        assert (params["name"], str(params["runs_dir"]), params["json_out"]) == ("x", str(tmp_path / "runs"), True)
        assert AEConfig.from_file(params["config_file"]) == SAMPLE
        # the trainer reads exactly the dict the run folder's config.json holds
        assert json.loads(path.read_text()) == {**SAMPLE.to_dict(), "hidden": [64, 32]}
    finally:
        path.unlink()


@pytest.mark.parametrize("cmd, choices", [
    (["train"], [KINDS, ACTIVATIONS, DEVICES, ("monotonic", "cyclical")]),
    (["sweep"], [ACTIVATIONS, DEVICES, ("local", "ray")]),
])
def test_choices_and_ranges_show_in_help(cmd, choices):
    result = runner.invoke(app, [*cmd, "--help"], env=WIDE)
    assert result.exit_code == 0
    for c in choices:
        assert "[" + "|".join(c) + "]" in result.output
    text = " ".join(result.output.replace("│", " ").split())
    assert f"Passes over the training set. Range: 1 to {MAX_EPOCHS}." in text
    assert f"Images per step. Range: 1 to {TRAIN_SIZE}." in text


def test_aekl_tui_help_shows_choices_and_ranges(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    tui_app.parse_options(["--help"])
    text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "[ae|vae]" in text and "[monotonic|cyclical]" in text
    assert f"Range: 0 to {MAX_BETA:g}." in text and f"Range: 1 to {MAX_CYCLES}." in text


@pytest.mark.parametrize("module, prog, words, choices", [
    ("core.cli", "aekl", "aekl train --activation ", ACTIVATIONS),
    pytest.param("tui.app", "aekl-tui", "aekl-tui --kind ", KINDS, marks=pytest.mark.slow),  # two fresh interpreters
])
def test_shell_completion_offers_the_choices(module, prog, words, choices):
    # Typer's completion protocol: the shell script it installs sets these variables.
    env = {**os.environ, f"_{prog.upper().replace('-', '_')}_COMPLETE": "complete_bash",
           "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()))}
    done = subprocess.run([sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.split() == list(choices), done.stderr
    shown = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120,
                           env={**os.environ, **WIDE})
    assert "--install-completion" in shown.stdout and "--show-completion" in shown.stdout


def usable() -> int:
    return len(os.sched_getaffinity(0))


# flag, value, and what the line must say (ranges written here from the documented limits)
OUT_OF_RANGE = [
    ("--kl-cycles", "1e400", "Invalid value for '--kl-cycles'"),
    ("--kl-cycles", str(10**400), f"--kl-cycles must be at most {MAX_CYCLES}"),
    ("--kl-cycles", "0", "--kl-cycles must be at least 1"),
    ("--free-bits", "1e308", f"--free-bits must be at most {MAX_FREE_BITS:g}"),
    ("--free-bits", "-1", "--free-bits must be a non-negative number"),
    ("--beta", "1e308", f"--beta must be at most {MAX_BETA:g}"),
    ("--beta", "nan", f"--beta must be a finite number (0 to {MAX_BETA:g}), got nan"),
    ("--lr", "inf", f"--lr must be a finite number (above 0, at most {MAX_LR:g}), got inf"),
    ("--lr", "0", "--lr must be a positive number, got 0"),
    ("--lr", "11", f"--lr must be at most {MAX_LR:g}"),
    ("--warmup", "1", "--warmup must be a fraction in [0, 1)"),
    ("--kl-warmup", "13", "--kl-warmup must be between 0 and the run's 12 epochs"),
    ("--epochs", str(MAX_EPOCHS + 1), f"--epochs must be at most {MAX_EPOCHS}"),
    ("--batch-size", str(TRAIN_SIZE + 1), f"--batch-size must be at most {TRAIN_SIZE}"),
    ("--seed", str(MAX_SEED + 1), f"--seed must be at most {MAX_SEED}"),
    ("--subset", "0", "--subset must be at least 1"),
    ("--hidden", "64,0", "--hidden sizes must be positive"),
    ("--latent", "0", "--latent must be at least 1"),
    ("--steps", "501", "--steps must be at most 500"),
    ("--from-index", "10000", "--from-index must be a test image index, 0 to 9999"),
    ("--threads", "{cpus+1}", "--threads must be at most {cpus}, the CPUs this process may use"),
]


def _fill(text: str) -> str:
    return text.replace("{cpus+1}", str(usable() + 1)).replace("{cpus}", str(usable()))


@pytest.mark.parametrize("flag, value, says", OUT_OF_RANGE, ids=lambda v: str(v)[:20])
def test_aekl_train_refuses_out_of_range_before_any_work(tmp_path, flag, value, says):
    result = runner.invoke(app, ["train", flag, _fill(value), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and _fill(says) in result.stderr, result.stderr
    assert not (tmp_path / "runs").exists()  # refused before a folder was made


@pytest.mark.parametrize("flag, value, says", OUT_OF_RANGE[:6] + OUT_OF_RANGE[-1:], ids=lambda v: str(v)[:20])
def test_aekl_tui_refuses_the_same(flag, value, says, capsys):
    with pytest.raises(SystemExit) as stop:
        tui_app.parse_options([flag, _fill(value)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and err.startswith("aekl-tui: error: ")
    assert _fill(says) in err


def test_aekl_sweep_refuses_the_same(tmp_path):
    result = runner.invoke(app, ["sweep", "--free-bits", "1e308", "--out", str(tmp_path)])
    assert result.exit_code == 2 and f"--free-bits must be at most {MAX_FREE_BITS:g}" in result.stderr


def test_every_numeric_option_has_a_documented_range():
    helps = {p.name: p.help for p in command(app, "train").params}
    numeric = [n for n in OPTIONS if not OPTIONS[n].choices and not isinstance(getattr(AEConfig(), n), bool)]
    assert "epochs" in numeric and "lr" in numeric and "hidden" in numeric
    for name in numeric:
        assert OPTIONS[name].low is not None and "Range: " in helps[name], name


def test_a_config_file_with_a_value_out_of_range_is_one_line(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({**AEConfig().to_dict(), "kl_cycles": 10**400}))
    result = runner.invoke(app, ["train", "--config", str(path), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert f"kl_cycles must be at most {MAX_CYCLES}" in result.stderr
    missing = runner.invoke(app, ["train", "--config", str(tmp_path / "nope.json")])
    assert missing.exit_code == 2 and "--config" in missing.stderr and "nope.json" in missing.stderr


def test_resume_refuses_the_config_but_not_where_it_trains(tmp_path):
    result = runner.invoke(app, ["train", "--resume", "x", "--beta", "2", "--config", "c.json", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "drop --beta, --config" in result.stderr
    result = runner.invoke(app, ["train", "--resume", "x", "--threads", "1", "--device", "cpu", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "no run named 'x'" in result.stderr
