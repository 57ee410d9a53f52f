"""The VAE's test ELBO and IWAE bound (core.nn.bound) on an untrained tiny
VAE, against the formulas written out here, and their words (core.present.elbo_units)."""

from __future__ import annotations

import math

import pytest
import torch

from core.config import AEConfig
from core.nn.bound import bits_per_dim, iwae_bound, recon_nats, sampled_elbo
from core.nn.models import build_model
from core.present.elbo_units import elbo_lines, elbo_short

D = 784


@pytest.fixture(scope="module")
def vae_and_images():
    torch.manual_seed(0)
    model = build_model(AEConfig(kind="vae", latent=3, hidden=(16,)))
    x = torch.rand(20, D) * 2 - 1  # pixels on the [-1, 1] scale the decoder models
    return model, x


def test_reconstruction_nats_are_the_gaussian_likelihood_with_variance_one_half():
    sq = torch.tensor([0.0, 2.5, 100.0], dtype=torch.float64)
    # -ln N(x; x_hat, sigma^2 I) = D/2 ln(2 pi sigma^2) + |x - x_hat|^2 / (2 sigma^2), sigma^2 = 1/2
    assert recon_nats(sq).tolist() == pytest.approx((D / 2 * math.log(math.pi) + sq).tolist(), rel=1e-12)
    assert bits_per_dim(1000.0) == pytest.approx(1000.0 / (D * math.log(2)), rel=1e-12)


def test_the_elbo_is_reconstruction_plus_the_closed_form_kl(vae_and_images):
    model, x = vae_and_images
    parts = sampled_elbo(model, x, samples=4)
    with torch.no_grad():
        mu, logvar = model.moments(x)
    kl = 0.5 * (mu.double() ** 2 + logvar.double().exp() - 1 - logvar.double()).sum(-1).mean()
    assert parts["test_nelbo"] - parts["test_recon_nats"] == pytest.approx(float(kl), rel=1e-6)
    assert parts["test_nelbo_bpd"] == pytest.approx(parts["test_nelbo"] / (D * math.log(2)), rel=1e-12)
    assert parts["elbo_samples"] == 4 and parts["test_sampled_mse"] > 0
    assert model.training  # the evaluation leaves the model as it found it


def test_the_importance_weighted_bound_is_no_looser_than_the_elbo_of_its_draws(vae_and_images):
    model, x = vae_and_images
    bound = iwae_bound(model, x, k=8)
    assert bound["iwae_k"] == 8 and math.isfinite(bound["test_iwae_nll"])
    assert bound["iwae_gap"] >= 0  # Jensen: ln of the mean weight >= the mean of ln weight
    assert bound["test_iwae_bpd"] == pytest.approx(bound["test_iwae_nll"] / (D * math.log(2)), rel=1e-12)


def test_the_bounds_in_words():
    row = {"test_nelbo": 123.456, "test_nelbo_bpd": 0.2272, "elbo_samples": 1, "test_recon_nats": 100.0,
           "test_kl": 23.456, "test_iwae_nll": 120.0, "test_iwae_bpd": 0.2208, "iwae_k": 16, "iwae_gap": 3.456}
    lines = elbo_lines(row)
    assert lines[0] == "test −ELBO = 123.46 nats per image = 0.2272 bits/dim (1 z per image drawn from q(z|x))"
    assert lines[1].startswith("  = reconstruction 100.00 + KL 23.46 nats")
    assert lines[2] == ("IWAE bound, k = 16: −ln p(x) ≤ 120.00 nats per image = 0.2208 bits/dim; "
                        "3.46 nats tighter than the ELBO from the same 16 draws")
    assert elbo_short(row) == "−ELBO 123.5 nats = 0.227 bits/dim · IWAE(k=16) 120.0 (σx² = ½)"
    # rows from before these numbers, or with text or nan where they belong, say nothing
    assert elbo_lines({}) == [] and elbo_short({"test_nelbo": float("nan"), "test_nelbo_bpd": 1.0}) == ""
    assert elbo_lines({"test_nelbo": "x", "test_nelbo_bpd": True}) == []
