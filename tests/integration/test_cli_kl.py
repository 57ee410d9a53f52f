"""`aekl kl` through the Typer app: tables, JSON, explanations, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch.distributions import MultivariateNormal, kl_divergence
from typer.testing import CliRunner

from core.cli import app

# This typer's CliRunner keeps stdout and stderr apart (result.stdout / .stderr).
runner = CliRunner()

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
    for value in ("0.125000", f"{TERM2:.6f}", f"{REV2:.6f}", f"{0.125 + TERM2:.6f}", f"{0.125 + REV2:.6f}"):
        assert value in text
    assert "KL(q ‖ N(0, I)) = 1.431853" in text and "KL(N(0, I) ‖ q) = 0.568147" in text
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
    assert f"{torch_kl([1, 1], [[2, 0.5], [0.5, 1]], [0, 0], np.eye(2)):.6f}" in result.stdout


def test_explain_shows_the_three_parts_with_the_input():
    result = runner.invoke(app, ["kl", "--mu", "0.5,1", "--sigma", "1,2", "--explain", "--samples", "0"])
    assert result.exit_code == 0, result.stderr
    text = " ".join(result.stdout.split())  # rich wraps at the terminal width
    assert "KL is never negative" in text and "ln t ≤ t − 1" in text
    assert "KL is not a metric" in text and "0.8069" in text and "0.3181" in text
    assert "2.0000" in text and "0.5000 + 0.5000" in text
    assert "closed form for two Gaussians" in text and "½ Σᵢ (σᵢ² + μᵢ² − 1 − ln σᵢ²)" in text
    assert "1.4319" in text and "0.5681" in text  # the user's own numbers
    assert "1.431853" in text  # and the table still comes first


def test_json_with_explain_stays_one_object():
    d = kl_json("--mu", "0.5,1", "--sigma", "1,2", "--explain", "--samples", "0")
    assert d["explain"].startswith("# KL(q ‖ p)") and "## 3." in d["explain"]


BAD = [
    # (arguments, words the one stderr line must contain)
    (["--sigma", "0"], "--sigma must be > 0"),
    (["--sigma", "-1"], "--sigma must be > 0"),
    (["--sigma", "nan"], "--sigma: 'nan' is not a finite number"),
    (["--mu", "inf"], "--mu: 'inf' is not a finite number"),
    (["--mu", ""], "--mu is empty"),
    (["--mu", "1,,2"], "--mu has an empty entry"),
    (["--mu", "1,2", "--sigma", "1,2,3"], "--sigma has 3 values but --mu has 2 values"),
    (["--mu", "1,2", "--mu1", "0,0,0"], "--mu1 has 3 values but --mu has 2 values"),
    (["--mu", "abc"], "--mu: 'abc' is not a number"),
    (["--sigma1", "1,x"], "--sigma1: 'x' is not a number"),
    (["--logvar", "1000"], "--logvar: 1000 is out of range"),
    (["--sigma", "1", "--logvar", "0"], "not both"),
    (["--cov0", "[[1,0],[0,1]]", "--sigma", "1"], "--cov0 replaces"),
    (["--mu", "0,0", "--cov0", "[[1,0.5],[0.2,1]]"], "--cov0 is not symmetric"),
    (["--mu", "0,0", "--cov1", "[[1,2],[2,1]]"], "--cov1 is not positive definite"),
    (["--mu", "0,0", "--cov0", "[[1,0,0],[0,1,0]]"], "--cov0 must be a square matrix"),
    (["--mu", "0,0", "--cov0", "[[1,0,0],[0,1,0],[0,0,1]]"], "--cov0 is 3x3 but --mu has 2 values"),
    (["--mu", "0,0", "--cov0", "[[1,0],[0]]"], "--cov0: rows have different lengths"),
    (["--mu", "0,0", "--cov0", "[[1,0],[0,1]"], "--cov0: not valid JSON"),
    (["--mu", "0,0", "--cov0", '[[1,"a"],["a",1]]'], "--cov0: 'a' is not a number"),
    (["--cov0", "{tmp}/missing.json"], "--cov0: no such file"),
    (["--cov1", "{tmp}/bad.npy"], "--cov1: cannot read"),
    (["--samples", "-5"], "--samples must be 0"),
    (["--samples", "many"], "--samples"),
    (["--mu", "1e200"], "overflows"),
    (["--seed", str(2**70)], "--seed must be at most 9223372036854775807, got 1180591620717411303424"),
    (["--seed", "-1"], "--seed must be at least 0, got -1"),
    (["--samples", str(2**62)], "--samples must be at most 10000000, got 4611686018427387904"),
    (["--cov0", "{deep}"], "--cov0: lists nested deeper than rows of a matrix"),
    (["--cov0", "[[[1]]]"], "--cov0: lists nested deeper than rows of a matrix"),
    (["--cov1", "~nosuchuser/cov.json"], "--cov1: '~nosuchuser/cov.json' starts with a home folder that does not exist"),
    (["--cov0", "{tmp}/" + "x" * 300 + ".json"], "--cov0: cannot use"),
]


@pytest.mark.parametrize("args, words", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, words):
    (tmp_path / "bad.npy").write_bytes(b"not an npy file")
    deep = "[" * 100_000 + "]" * 100_000  # beyond what json's recursion allows
    args = [a.replace("{tmp}", str(tmp_path)).replace("{deep}", deep) for a in args]
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
