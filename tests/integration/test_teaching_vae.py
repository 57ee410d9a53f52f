"""The VAE's test ELBO, bits/dim and IWAE bound, against formulas written here:
a Gaussian decoder with σx² = ½ on D = 784 pixels, torch.distributions for the
densities, and a decoder that ignores z, for which ln p(x) is known exactly."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from core.engine.fit import fit
from core.events import EpochEnd
from core.nn.bound import iwae_bound, sampled_elbo
from core.nn.models import VAE, load_trained
from core.runfolder.runs import new_run

D = 784


def log_lik(x, x_hat):
    """ln N(x; x̂, ½ I), summed over pixels, from torch.distributions."""
    return Normal(x_hat, math.sqrt(0.5)).log_prob(x).sum(-1)


def small_vae(seed=0, latent=3):
    torch.manual_seed(seed)
    return VAE(latent, hidden=(32, 16)).double().eval()


def test_the_likelihood_constant_is_the_one_stated():
    x, x_hat = torch.rand(5, D, dtype=torch.float64) * 2 - 1, torch.rand(5, D, dtype=torch.float64) * 2 - 1
    expected = 392 * math.log(math.pi) + ((x - x_hat) ** 2).sum(-1)  # D/2 ln(2π·½) + ‖x − x̂‖²/(2·½)
    assert (-log_lik(x, x_hat)).tolist() == pytest.approx(expected.tolist(), rel=1e-12)


@pytest.mark.slow  # seconds of Monte Carlo
@torch.no_grad()
def test_a_decoder_that_ignores_z_has_a_known_likelihood_and_the_bounds_bracket_it():
    model = small_vae()
    with torch.no_grad():
        model.decoder[0][0].weight.zero_()  # x̂ no longer depends on z, so p(x) = p(x | x̂)
    x = torch.rand(200, D, dtype=torch.float64) * 2 - 1
    mu, logvar = model.moments(x)
    x_hat = model.decode(torch.zeros_like(mu))
    exact = float(-log_lik(x, x_hat).mean())  # −ln p(x), nats per image
    kl = float(kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1).mean())
    elbo = sampled_elbo(model, x, samples=3)
    assert elbo["test_nelbo"] == pytest.approx(exact + kl, rel=1e-10)
    assert elbo["test_recon_nats"] == pytest.approx(exact, rel=1e-10)
    assert elbo["test_nelbo_bpd"] == pytest.approx((exact + kl) / (D * math.log(2)), rel=1e-10)
    assert elbo["test_sampled_mse"] == pytest.approx(float(((x - x_hat) ** 2).mean()), rel=1e-10)
    assert elbo["elbo_samples"] == 3
    bound = iwae_bound(model, x, k=256)
    assert bound["iwae_k"] == 256 and bound["iwae_gap"] >= 0
    assert exact <= bound["test_iwae_nll"] <= exact + kl  # ln p(x) ≥ L_k ≥ ELBO
    assert bound["test_iwae_nll"] - exact < 0.5 * kl  # and much closer to ln p(x) with k = 256


@pytest.mark.slow  # seconds of Monte Carlo
@torch.no_grad()
def test_the_sampled_elbo_matches_an_independent_monte_carlo():
    model = small_vae(seed=1)
    x = torch.rand(300, D, dtype=torch.float64) * 2 - 1
    mu, logvar = model.moments(x)
    q = Normal(mu, (0.5 * logvar).exp())
    gen = torch.Generator().manual_seed(123)
    draws = torch.stack([mu + q.scale * torch.randn(mu.shape, generator=gen, dtype=mu.dtype) for _ in range(40)])
    recon = -log_lik(x, model.decode(draws))  # (40, 300)
    kl = kl_divergence(q, Normal(0.0, 1.0)).sum(-1)
    per_image = recon.mean(0) + kl
    se = float(recon.mean(0).std() / math.sqrt(300 * 40)) + float(recon.std(0).mean() / math.sqrt(40 * 300))
    got = sampled_elbo(model, x, samples=40)
    assert abs(got["test_nelbo"] - float(per_image.mean())) < 6 * se + 1e-9
    # the IWAE estimate with k draws: −mean_x ln mean_k w, against the same from this test's draws
    log_w = -recon + Normal(0.0, 1.0).log_prob(draws).sum(-1) - q.log_prob(draws).sum(-1)
    iwae = float(-(torch.logsumexp(log_w, 0) - math.log(40)).mean())
    assert iwae_bound(model, x, k=40)["test_iwae_nll"] == pytest.approx(iwae, abs=0.05 * abs(iwae - got["test_nelbo"]) + 0.5)


@pytest.mark.slow  # trains for epochs
def test_a_vae_run_records_the_elbo_the_bound_and_the_whole_set_charge(tmp_path, mnist_small, tiny_config):
    config = replace(tiny_config, kind="vae", latent=4, epochs=2, free_bits=0.8)
    run = new_run(config, tmp_path)
    ends = [e for e in fit(config, mnist_small, run=run) if isinstance(e, EpochEnd)]
    rows = run.metrics()
    model, _ = load_trained(run)
    with torch.no_grad():
        mu, logvar = model.moments(mnist_small.test_x)
        kl_j = kl_divergence(Normal(mu.double(), (0.5 * logvar.double()).exp()), Normal(0.0, 1.0)).mean(0)
    last = rows[-1]
    charged = sum(max(0.8, float(v)) for v in kl_j)  # β = 1: β·Σ_j max(λ, KL_j) over all 10,000 images
    assert last["test_beta_kl"] == pytest.approx(charged, rel=1e-5)
    assert last["test_loss"] == pytest.approx(last["test_mse"] + charged / D, rel=1e-5)
    for row in rows:
        assert row["elbo_samples"] == 1
        assert row["test_nelbo"] == pytest.approx(row["test_recon_nats"] + row["test_kl"], rel=1e-6)
        assert row["test_recon_nats"] == pytest.approx(392 * math.log(math.pi) + D * row["test_sampled_mse"], rel=1e-6)
        assert row["test_nelbo_bpd"] == pytest.approx(row["test_nelbo"] / (D * math.log(2)), rel=1e-12)
    assert "test_iwae_nll" not in rows[0]  # the bound is computed once, at the end
    assert last["iwae_k"] == 16 and last["iwae_gap"] >= 0  # on the CPU
    assert last["test_iwae_nll"] <= last["test_nelbo"] + 0.1
    assert last["test_iwae_bpd"] == pytest.approx(last["test_iwae_nll"] / (D * math.log(2)), rel=1e-12)
    assert ends[-1].test_iwae_nll == last["test_iwae_nll"]


def _cli(*args, cwd):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "core.cli", *args], capture_output=True, text=True, cwd=cwd, env=env)


@pytest.mark.slow  # real `aekl train` processes
def test_summary_show_and_show_nll_state_the_units(tmp_path):
    trained = _cli("train", "--kind", "vae", "--latent", "3", "--epochs", "1", "--subset", "512", "--batch-size", "64",
                   "--hidden", "32", "--name", "v", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    row = json.loads((tmp_path / "runs" / "v" / "metrics.jsonl").read_text().splitlines()[-1])
    for text in (trained.stdout, _cli("show", "v", cwd=tmp_path).stdout):
        assert f"test −ELBO = {row['test_nelbo']:.2f} nats per image = {row['test_nelbo_bpd']:.4f} bits/dim" in text
        assert f"IWAE bound, k = {row['iwae_k']}: −ln p(x) ≤ {row['test_iwae_nll']:.2f} nats" in text
        assert "σx² = ½" in text and "β·Σ_j max(λ, KL_j)" in text and "6.994" in text
    on_demand = _cli("show", "v", "--nll", "--k", "8", "--json", cwd=tmp_path)
    assert on_demand.returncode == 0, on_demand.stderr
    data = json.loads(on_demand.stdout)
    assert data["iwae_k"] == 8 and data["images"] == 10_000 and data["iwae_gap"] >= 0
    assert data["test_nelbo"] == pytest.approx(row["test_nelbo"], rel=1e-9)  # the same draws as at the end of training
    ae = _cli("train", "--latent", "2", "--epochs", "1", "--subset", "256", "--batch-size", "64", "--hidden", "16",
              "--name", "a", cwd=tmp_path)
    assert ae.returncode == 0
    refused = _cli("show", "a", "--nll", cwd=tmp_path)
    assert refused.returncode == 2 and refused.stderr.strip().startswith("aekl: error: --nll needs a VAE run")
