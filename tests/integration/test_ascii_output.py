"""Every command on a terminal that only takes ASCII (PYTHONIOENCODING=ascii):
each symbol is spelled out (beta, sigma, ||), never replaced by '?'.

Each command runs twice, as UTF-8 and as ASCII; the ASCII output must be pure
ASCII and hold no more '?' than the UTF-8 one (a '?' that was already there,
in a help text say, is not a lost symbol)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

AEKL = [sys.executable, "-m", "core.cli"]
TINY = ["--subset", "256", "--batch-size", "64", "--hidden", "16", "--epochs", "1", "--seed", "0"]


def aekl(*args: str, encoding: str, cwd=None) -> str:
    env = {**os.environ, "PYTHONIOENCODING": encoding, "COLUMNS": "100"}
    done = subprocess.run([*AEKL, *args], env=env, cwd=cwd, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")[-2000:]
    return (done.stdout + done.stderr).decode("utf-8" if encoding == "utf-8" else "ascii")


def check_spelled_out(*args: str, cwd=None) -> str:
    """Run a command both ways; return the ASCII output after checking it."""
    wide = aekl(*args, encoding="utf-8", cwd=cwd)
    narrow = aekl(*args, encoding="ascii", cwd=cwd)
    lost = narrow.count("?") - wide.count("?")
    assert lost <= 0, f"aekl {' '.join(args)}: {lost} symbol(s) printed as '?':\n{narrow[-3000:]}"
    return narrow


@pytest.mark.parametrize("args, spelled", [
    (["kl", "--mu", "0.5,1", "--sigma", "2,0.5"], ["||", "sigma", "+/-"]),
    (["kl", "--mu", "0.5", "--sigma", "2", "--explain"], ["sigma", "mu"]),
    pytest.param(["kl-demo"], [], marks=pytest.mark.slow),  # seconds of fitting
    pytest.param(["train", "--help"], ["beta"], marks=pytest.mark.slow),  # (the help imports more)
    pytest.param(["bench", "--help"], [], marks=pytest.mark.slow),
    pytest.param(["sweep", "--help"], [], marks=pytest.mark.slow),
])
def test_kl_and_help_spell_their_symbols_in_ascii(args, spelled):
    text = check_spelled_out(*args)
    for word in spelled:
        assert word in text, f"{word!r} missing from aekl {' '.join(args)}"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny AE and one tiny VAE, trained once by `aekl train` under ASCII."""
    root = tmp_path_factory.mktemp("ascii")
    outputs = {}
    for name, extra in (("ae", []), ("vae", ["--kind", "vae"])):
        outputs[name] = aekl("train", *TINY, *extra, "--out", str(root / "runs"), "--name", name,
                             encoding="ascii", cwd=root)
    return root, outputs


@pytest.mark.slow
def test_train_prints_no_lost_symbol(trained):
    _, outputs = trained
    for text in outputs.values():
        assert "?" not in text, text[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("args, spelled", [
    (["runs"], []),
    (["show", "ae"], []),
    (["show", "vae"], ["beta"]),  # the ELBO table's header
    (["latent", "vae"], []),
    (["interpolate", "ae", "--steps", "5"], []),
])
def test_run_commands_spell_their_symbols_in_ascii(trained, tmp_path, args, spelled):
    root, _ = trained
    work = tmp_path / "runs"
    shutil.copytree(root / "runs", work)  # the commands write PNGs into the run
    text = check_spelled_out(*args, "--out", str(work))
    for word in spelled:
        assert word in text, f"{word!r} missing from aekl {' '.join(args)}:\n{text[-2000:]}"
