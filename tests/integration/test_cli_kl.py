"""`aekl kl` through the Typer app: tables, JSON, explanations, bad input."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.distributions import MultivariateNormal, kl_divergence
from typer.testing import CliRunner

from core.cli import app

# This typer's CliRunner keeps stdout and stderr apart (result.stdout / .stderr).
runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]

TERM2 = 0.5 * (4 - math.log(4))  # dimension 2 of --mu 0.5,1 --sigma 1,2
REV2 = 0.5 * (0.25 + 0.25 - 1 + math.log(4))


def kl_json(*args: str) -> dict:
    result = runner.invoke(app, ["kl", *args, "--json"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 1  # exactly one JSON object on stdout
    return json.loads(lines[0])


def torch_kl(m0, s0, m1, s1) -> float:
    t = lambda x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
    return kl_divergence(MultivariateNormal(t(m0), t(s0)), MultivariateNormal(t(m1), t(s1))).item()


def test_table_shows_terms_and_totals():
    result = runner.invoke(app, ["kl", "--mu", "0.5,1", "--sigma", "1,2"])
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    for value in ("0.125", f"{TERM2:.6g}", f"{REV2:.6g}", f"{0.125 + TERM2:.6g}", f"{0.125 + REV2:.6g}"):
        assert value in text
    assert "KL(q ‖ N(0, I)) = 1.43185" in text and "KL(N(0, I) ‖ q) = 0.568147" in text
    assert "Monte Carlo" in text and "±" in text and "100,000 draws" in text


def test_json_has_inputs_terms_totals_and_mc():
    d = kl_json("--mu", "0.5,1", "--sigma", "1,2")
    assert d["inputs"]["q"] == {"mu": [0.5, 1.0], "sigma": [1.0, 2.0]}
    assert d["inputs"]["p"] == {"mu": [0.0, 0.0], "sigma": [1.0, 1.0]}
    assert d["terms"] == pytest.approx([0.125, TERM2], rel=1e-14)
    assert d["reverse_terms"] == pytest.approx([0.125, REV2], rel=1e-14)
    assert d["total"] == pytest.approx(0.125 + TERM2, rel=1e-14)
    assert d["reverse"] == pytest.approx(0.125 + REV2, rel=1e-14)
    mc = d["mc"]
    assert mc["samples"] == 100_000 and mc["seed"] == 0
    assert abs(mc["estimate"] - d["total"]) < 4 * mc["stderr"]


def test_logvar_scalar_broadcast_negative_mean_and_no_mc():
    by_lv = kl_json("--mu", "-1,2", "--logvar", f"0,{math.log(4)}", "--samples", "0")
    by_sigma = kl_json("--mu", "-1,2", "--sigma", "1,2", "--samples", "0")
    assert by_lv["total"] == pytest.approx(by_sigma["total"], rel=1e-14)
    assert by_lv["inputs"]["q"]["logvar"] == pytest.approx([0.0, math.log(4)])
    assert by_lv["mc"] is None
    scalar = kl_json("--mu", "1", "--sigma", "2,2,2", "--samples", "0")
    assert scalar["inputs"]["q"]["mu"] == [1.0, 1.0, 1.0]
    assert scalar["total"] == pytest.approx(3 * 0.5 * (4 + 1 - 1 - math.log(4)), rel=1e-14)


def test_second_diagonal_gaussian():
    d = kl_json("--mu", "0.3,-1", "--sigma", "1.5,0.5", "--mu1", "1,0", "--sigma1", "2", "--samples", "20000")
    assert d["inputs"]["p"] == {"mu": [1.0, 0.0], "sigma": [2.0, 2.0]}
    ref = torch_kl([0.3, -1], np.diag([2.25, 0.25]), [1, 0], np.diag([4.0, 4.0]))
    back = torch_kl([1, 0], np.diag([4.0, 4.0]), [0.3, -1], np.diag([2.25, 0.25]))
    assert d["total"] == pytest.approx(ref, rel=1e-12) and d["reverse"] == pytest.approx(back, rel=1e-12)
    assert abs(d["mc"]["estimate"] - ref) < 4 * d["mc"]["stderr"]


@pytest.mark.parametrize("form", ["inline", "json", "npy"])
def test_full_covariances(tmp_path, form):
    s0 = [[2.0, 0.5], [0.5, 1.0]]
    s1 = [[1.0, -0.3], [-0.3, 0.7]]
    if form == "inline":
        arg = json.dumps(s0)
    elif form == "json":
        (tmp_path / "s0.json").write_text(json.dumps(s0))
        arg = str(tmp_path / "s0.json")
    else:
        np.save(tmp_path / "s0.npy", np.array(s0))
        arg = str(tmp_path / "s0.npy")
    d = kl_json("--mu", "1,0", "--cov0", arg, "--mu1", "0,1", "--cov1", json.dumps(s1), "--samples", "20000")
    assert d["diagonal"] is False and d["terms"] is None
    assert d["inputs"]["q"]["cov"] == s0
    assert d["total"] == pytest.approx(torch_kl([1, 0], s0, [0, 1], s1), rel=1e-12)
    assert d["reverse"] == pytest.approx(torch_kl([0, 1], s1, [1, 0], s0), rel=1e-12)
    assert abs(d["mc"]["estimate"] - d["total"]) < 4 * d["mc"]["stderr"]


def test_full_covariance_table():
    result = runner.invoke(app, ["kl", "--mu", "1", "--cov0", "[[2,0.5],[0.5,1]]", "--samples", "0"])
    assert result.exit_code == 0, result.stderr
    assert "does not split by dimension" in result.stdout
    assert f"{torch_kl([1, 1], [[2, 0.5], [0.5, 1]], [0, 0], np.eye(2)):.6g}" in result.stdout


def test_explain_shows_the_three_parts_with_the_input():
    result = runner.invoke(app, ["kl", "--mu", "0.5,1", "--sigma", "1,2", "--explain", "--samples", "0"])
    assert result.exit_code == 0, result.stderr
    text = " ".join(result.stdout.split())  # rich wraps at the terminal width
    assert "KL(N0 ‖ N1) ≥ 0" in text and "ln t ≤ t − 1" in text
    assert "KL is not a metric" in text and "M1 holds" in text
    assert "0.0588915 + 0.0661085" not in text  # that is another input's midpoint
    assert "closed form for two Gaussians" in text and "½ Σ_j (σ_j² + μ_j² − 1 − ln σ_j²)" in text
    assert "KL(N0 ‖ N1) = 1.43185" in text and "KL(N1 ‖ N0) = 0.568147" in text  # the user's own numbers
    assert text.index("per dimension") < text.index("KL(N0 ‖ N1) ≥ 0")  # the table comes first


def test_json_with_explain_stays_one_object():
    d = kl_json("--mu", "0.5,1", "--sigma", "1,2", "--explain", "--samples", "0")
    assert d["explain"].startswith("# KL(N0 ‖ N1)") and "## (iii)" in d["explain"]


BAD = [
    # (arguments, words the one stderr line must contain)
    (["--sigma", "0"], "--sigma must be > 0"),
    (["--sigma", "-1"], "--sigma must be > 0"),
    (["--sigma", "nan"], "--sigma has 'nan', which is not a finite number"),
    (["--mu", "inf"], "--mu has 'inf', which is not a finite number"),
    (["--mu", ""], "--mu is empty"),
    (["--mu", "1,,2"], "--mu has an empty entry"),
    (["--mu", "1,2", "--sigma", "1,2,3"], "--sigma has 3 values but --mu has 2 values"),
    (["--mu", "1,2", "--mu1", "0,0,0"], "--mu1 has 3 values but --mu has 2 values"),
    (["--mu", "abc"], "--mu has 'abc', which is not a number"),
    (["--sigma1", "1,x"], "--sigma1 has 'x', which is not a number"),
    (["--logvar", "1000"], "--logvar is out of range"),
    (["--sigma", "1", "--logvar", "0"], "give --sigma or --logvar, not both"),
    (["--cov0", "[[1,0],[0,1]]", "--sigma", "1"], "--cov0 replaces"),
    (["--mu", "0,0", "--cov0", "[[1,0.5],[0.2,1]]"], "--cov0 is not symmetric"),
    (["--mu", "0,0", "--cov1", "[[1,2],[2,1]]"], "--cov1 is not positive definite"),
    (["--mu", "0,0", "--cov0", "[[1,0,0],[0,1,0]]"], "--cov0 must be a square matrix"),
    (["--mu", "0,0", "--cov0", "[[1,0,0],[0,1,0],[0,0,1]]"], "--cov0 is 3x3 but --mu has 2 values"),
    (["--mu", "0,0", "--cov0", "[[1,0],[0]]"], "--cov0 has rows of different lengths"),
    (["--mu", "0,0", "--cov0", "[[1,0],[0,1]"], "--cov0 is not valid JSON"),
    (["--mu", "0,0", "--cov0", '[[1,"a"],["a",1]]'], "--cov0 has 'a', which is not a number"),
    (["--cov0", "{tmp}/missing.json"], "--cov0 names no file"),
    (["--cov1", "{tmp}/bad.npy"], "--cov1 cannot read"),
    (["--cov1", "{tmp}/pickled.npy"], "--cov1 file"),
    (["--mu", "@{tmp}/pickled.npy"], "holds object values"),
    (["--mu", "@{tmp}/missing.txt"], "--mu names no file"),
    (["--cov0", "[" * 50_000 + "]" * 50_000], "--cov0 nests lists 50000 deep"),
    (["--cov0", "[]"], "--cov0 is empty"),
    (["--cov0", "[[1e999]]"], "--cov0 has a value that is not finite"),
    (["--samples", "-5"], "--samples must be 0"),
    (["--samples", "many"], "--samples"),
    (["--samples", "1000000000000"], "--samples must be at most 10,000,000"),
    (["--seed", "-1"], "--seed must be between 0"),
    (["--mu", "1,2", "--dim", "3", "--plot"], "--dim must be between 1 and 2, got 3"),
    (["--mu", "1e200"], "overflows float64 in both directions"),
]


@pytest.mark.parametrize("args, words", BAD, ids=[" ".join(a)[:60] for a, _ in BAD])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, words):
    (tmp_path / "bad.npy").write_bytes(b"not an npy file")
    np.save(tmp_path / "pickled.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = runner.invoke(app, ["kl", *args])
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), result.stderr
    assert words in lines[0]
    assert "Traceback" not in result.stderr


def test_bad_input_with_json_keeps_stdout_empty():
    result = runner.invoke(app, ["kl", "--sigma", "0", "--json"])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1


def run_aekl(*args: str, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.cli", *args], cwd=ROOT, capture_output=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, timeout=120, **kw)


def test_kl_imports_no_torch():
    code = ("import sys\nfrom core.cli import app\n"
            "try:\n    app(['kl', '--mu', '0.5,1', '--sigma', '1,2', '--explain', '--plot'])\n"
            "except SystemExit as exc:\n    assert exc.code in (0, None), exc.code\n"
            "print('TORCH', 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "TORCH False"


@pytest.mark.parametrize("encoding", ["ascii", pytest.param("latin-1", marks=pytest.mark.slow)])  # a process each
def test_output_survives_a_narrow_encoding(encoding):
    done = run_aekl("kl", "--mu", "0.5,1", "--sigma", "1,2", "--explain", "--samples", "1000",
                    env={"PYTHONIOENCODING": encoding})
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    text = done.stdout.decode(encoding)
    assert "KL(q || N(0, I)) = 1.43185" in text and "Traceback" not in done.stderr.decode(errors="replace")
    assert "sigma" in text


@pytest.mark.slow  # seconds of linear algebra at d = 500
def test_memory_stays_bounded_at_d_500_with_a_full_covariance(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((500, 500))
    np.save(tmp_path / "s0.npy", a @ a.T / 500 + np.eye(500))
    np.save(tmp_path / "mu.npy", rng.standard_normal(500))
    code = ("from core.cli import app\n"
            f"args = ['kl', '--mu', '@{tmp_path}/mu.npy', '--cov0', '{tmp_path}/s0.npy', '--json']\n"
            "try:\n    app(args)\nexcept SystemExit as exc:\n    assert exc.code in (0, None)\n"
            # VmHWM, not ru_maxrss: the latter keeps the forking parent's peak across exec
            "hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0]\n"
            "print('RSS_MB', int(hwm.split()[1]) / 1024)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[0])
    assert abs(result["mc"]["estimate"] - result["total"]) < 5 * result["mc"]["stderr"]
    assert float(lines[-1].split()[1]) < 250  # --help promises this bound for d = 1000 (measured: 195 MB)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.slow  # two seconds of sampling before the signal
def test_ctrl_c_stops_a_long_monte_carlo_with_130(tmp_path):
    # 100 dimensions x 10M draws: a minute or more of sampling. The signal is
    # sent once the process has done more work than starting up costs (about
    # 0.5 s of CPU), counted in CPU seconds so a loaded machine does not matter.
    mu = ",".join(str(k % 7) for k in range(100))
    proc = subprocess.Popen([sys.executable, "-m", "core.cli", "kl", "--mu", mu, "--samples", "10000000"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 120
    while cpu_seconds(proc.pid) < 2.0:
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.decode().strip().splitlines() == ["aekl: error: interrupted"]


def test_plot_and_png(tmp_path):
    png = tmp_path / "kl.png"
    result = runner.invoke(app, ["kl", "--mu", "0.5,1", "--sigma", "1,2", "--plot", "--png", str(png),
                                 "--samples", "0"])
    assert result.exit_code == 0, result.stderr
    assert "dimension 2: area under q ln(q/p) = 1.30685 ≈ term 1.30685" in result.stdout
    assert "1σ and 2σ ellipses" in result.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    d = kl_json("--mu", "0.5,1", "--sigma", "1,2", "--dim", "1", "--samples", "0")
    assert d["plot"]["dim"] == 1 and d["plot"]["term"] == pytest.approx(0.125, rel=1e-12)


def test_one_direction_overflowing_is_reported():
    result = runner.invoke(app, ["kl", "--logvar", "-740", "--samples", "1000"])
    assert result.exit_code == 0, result.stderr
    assert "KL(q ‖ N(0, I)) = 369.5" in result.stdout
    assert "KL(N(0, I) ‖ q) = overflow (beyond float64)" in result.stdout


def test_demo_json_and_png(tmp_path):
    png = tmp_path / "demo.png"
    result = runner.invoke(app, ["kl-demo", "--weights", "0.3,0.7", "--means", "-3,2", "--spreads", "0.5,0.8",
                                 "--json", "--png", str(png)])
    assert result.exit_code == 0, result.stderr
    d = json.loads(result.stdout)
    mean = 0.3 * -3 + 0.7 * 2
    assert d["moment_matching"]["mean"] == pytest.approx(mean, abs=1e-6)
    assert d["moment_matching"]["sigma"] ** 2 == pytest.approx(0.3 * 9.25 + 0.7 * 4.64 - mean ** 2, abs=1e-6)
    assert min(abs(d["mode_seeking"]["mean"] - m) for m in (-3, 2)) < 0.1
    assert png.read_bytes()[:4] == b"\x89PNG"
    shown = runner.invoke(app, ["kl-demo"])
    assert shown.exit_code == 0 and "mode-seeking" in shown.stdout and "moment matching" in shown.stdout


@pytest.mark.parametrize("args, words", [
    (["--weights", "0.5,0.4"], "--weights must sum to 1"),
    (["--spreads", "1,0"], "--spreads must all be > 0"),
    (["--means", "1,2,3"], "--weights has 2 values but there are 3 means"),
])
def test_demo_bad_input(args, words):
    result = runner.invoke(app, ["kl-demo", *args])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and words in result.stderr


def test_huge_covariance_entry_gives_one_finite_direction_and_no_warnings():
    done = run_aekl("kl", "--cov0", "[[1e308]]", "--samples", "10", "--json")
    assert done.returncode == 0 and done.stderr == b""
    d = json.loads(done.stdout)
    assert d["total"] == pytest.approx(0.5 * (1e308 - 1 - math.log(1e308)), rel=1e-12)
    assert d["reverse"] == pytest.approx(0.5 * (1e-308 - 1 + math.log(1e308)), rel=1e-12)
