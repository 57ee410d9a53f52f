"""`aekl kl --run RUN --index I`: the KL table of one test image's posterior
under a trained VAE's encoder, and the refusals around it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from core.cli import app
from core.config import AEConfig
from core.gauss.kl import kl_diag_standard
from core.nn.models import load_trained
from core.nn.posterior import ellipse, load_posterior
from core.runfolder.runs import new_run
from core.engine.fit import fit

runner = CliRunner()


pytestmark = pytest.mark.slow  # the module's runs train two VAEs

@pytest.fixture(scope="module")
def runs(tmp_path_factory, mnist_small):
    """A tiny VAE (latent 3) and a tiny plain autoencoder in one runs folder."""
    root = tmp_path_factory.mktemp("posterior") / "runs"
    for name, kind, latent in (("vae", "vae", 3), ("ae", "ae", 2)):
        config = AEConfig(kind=kind, latent=latent, hidden=(32,), epochs=1, batch_size=64, subset=512, device="cpu")
        for _ in fit(config, mnist_small, run=new_run(config, root, name=name)):
            pass
    return root


def encoder_output(root, index, mnist_small):
    from core.runfolder.runs import open_run

    model, _ = load_trained(open_run("vae", root), "cpu")
    with torch.inference_mode():
        mu, logvar = model.moments(mnist_small.test_x[index : index + 1])
    return mu[0].double().numpy(), logvar[0].double().numpy()


def test_kl_of_a_run_equals_core_kl_of_the_encoder_output(runs, mnist_small):
    mu, logvar = encoder_output(runs, 17, mnist_small)
    expect = kl_diag_standard(mu, logvar=logvar)
    result = runner.invoke(app, ["kl", "--run", "vae", "--index", "17", "--out", str(runs), "--json"])
    assert result.exit_code == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["inputs"]["posterior"] == {"run": "vae", "index": 17, "digit": int(mnist_small.test_y[17])}
    assert got["inputs"]["q"]["mu"] == pytest.approx(mu.tolist(), rel=1e-15)
    assert got["inputs"]["q"]["logvar"] == pytest.approx(logvar.tolist(), rel=1e-15)
    assert got["inputs"]["q"]["sigma"] == pytest.approx(np.exp(0.5 * logvar).tolist(), rel=1e-12)
    assert got["terms"] == pytest.approx(np.asarray(expect.terms).tolist(), rel=1e-12)
    assert got["total"] == pytest.approx(float(expect.total), rel=1e-12)
    assert len(got["terms"]) == 3 and got["total"] > 0
    # by hand for the first dimension: ½(μ² + σ² − 1 − ln σ²)
    assert got["terms"][0] == pytest.approx(0.5 * (mu[0] ** 2 + np.exp(logvar[0]) - 1 - logvar[0]), rel=1e-9)
    # the Monte Carlo check samples this same q
    assert got["mc"]["estimate"] == pytest.approx(got["total"], abs=6 * got["mc"]["stderr"])


def test_the_table_and_explain_show_the_posterior(runs, mnist_small):
    mu, logvar = encoder_output(runs, 4, mnist_small)
    result = runner.invoke(app, ["kl", "--run", "vae", "--index", "4", "--out", str(runs), "--explain",
                                 "--samples", "0"])
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert f"q = q(z|x) of test image 4 (a {int(mnist_small.test_y[4])}) under run vae's encoder" in text
    total = float(kl_diag_standard(mu, logvar=logvar).total)
    assert f"KL(q ‖ N(0, I)) = {total:.6g}" in text
    assert "naive difference loses every digit" in text  # the derivations follow the table
    # --json --explain: the derivations written with this posterior's numbers
    from core.gauss.explain import explain_markdown

    result = runner.invoke(app, ["kl", "--run", "vae", "--index", "4", "--out", str(runs), "--explain",
                                 "--samples", "0", "--json"])
    problem = load_posterior("vae", runs, 4).problem()
    assert json.loads(result.stdout)["explain"] == explain_markdown(problem.q, problem.p)


@pytest.mark.parametrize("args, words", [
    (["--run", "ae", "--index", "3"], "run ae is a plain autoencoder: it has no posterior"),
    (["--run", "nope", "--index", "3"], "no run named 'nope'"),
    (["--run", "vae", "--index", "10000"], "--index must be a test image, 0 to 9999, got 10000"),
    (["--run", "vae", "--index", "-2"], "--index must be a test image, 0 or more, got -2"),
    (["--run", "vae"], "--run needs --index"),
    (["--index", "3"], "--index picks a test image of a run; give --run too"),
    (["--run", "vae", "--index", "3", "--mu", "1"], "give --run or --mu, not both"),
    (["--run", "vae", "--index", "3", "--sigma1", "2"], "give --run or --sigma1, not both"),
])
def test_bad_posterior_requests_are_one_line_and_exit_2(runs, tmp_path, args, words):
    png = tmp_path / "kl.png"
    result = runner.invoke(app, ["kl", *args, "--out", str(runs), "--png", str(png)])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], result.stderr
    assert not png.exists()  # nothing written


def test_load_posterior_and_its_ellipse(runs, mnist_small):
    post = load_posterior("vae", runs, 9)
    mu, logvar = encoder_output(runs, 9, mnist_small)
    assert post.mu.tolist() == mu.tolist() and post.sigma == pytest.approx(np.exp(0.5 * logvar))
    assert post.image.shape == (28, 28) and post.digit == int(mnist_small.test_y[9])
    assert post.kl_terms.sum() == pytest.approx(float(kl_diag_standard(mu, logvar=logvar).total))
    xs, ys = ellipse([1.0, -2.0], [0.5, 3.0], points=4)
    assert xs == pytest.approx([1.5, 1.0, 0.5, 1.0, 1.5], abs=1e-12)
    assert ys == pytest.approx([-2.0, 1.0, -2.0, -5.0, -2.0], abs=1e-12)
