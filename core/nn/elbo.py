"""The ELBO in parts, for a student to read every epoch.

What the engine adds to each epoch's numbers for a VAE: the KL carried by
each latent dimension, how many dimensions are active, the β in force and
the β-weighted KL; and a plain-words warning when the posterior collapsed.

Units: reconstruction is MSE per pixel (data in [-1, 1]); KL is nats per
image; the total is the objective, MSE + β·Σ_j max(λ, KL_j)/784 with λ the
free bits (0: plain KL). The ELBO in nats and bits/dim, with z sampled from
q(z|x), and the IWAE bound at the end of a run come from core.nn.bound.
"""

from __future__ import annotations

import torch

from core.config import IMAGE_DIM
from core.nn.models import VAE, AutoEncoder

ACTIVE_VARIANCE = 0.01  # Burda et al. 2016: active if Var over x of E[z_d | x] > 0.01
# the words about collapse live where a face can import them without torch
from core.present.elbo import QUIET_KL, collapse_warning  # noqa: F401  (re-exported)


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of KL(q(z_d|x) || N(0, 1)) for each dimension d: (latent,).

    These are core.gauss.kl's per-dimension terms, so they sum to the KL per image."""
    from core.gauss.kl import kl_diag_standard

    return kl_diag_standard(mu, logvar=logvar).terms.mean(0)


def active_units(mu: torch.Tensor, threshold: float = ACTIVE_VARIANCE) -> int:
    """Dimensions whose posterior mean has a variance across images above
    `threshold`: (N, latent) -> count."""
    return int((mu.double().var(0, unbiased=False) > threshold).sum())


@torch.inference_mode()
def posterior_stats(model: AutoEncoder, x: torch.Tensor, batch: int = 5000) -> dict:
    """Encoder-only pass over `x`: KL per dimension (mean over x) and active units.

    Empty for a plain autoencoder, which has no posterior."""
    if not isinstance(model, VAE):
        return {}
    was_training = model.training
    model.eval()
    mus, kls = [], torch.zeros(model.latent, dtype=torch.float64, device=x.device)
    for start in range(0, len(x), batch):
        mu, logvar = model.moments(x[start : start + batch])
        mus.append(mu)
        kls += kl_per_dim(mu, logvar).double() * len(mu)
    model.train(was_training)
    return {"kl_per_dim": tuple((kls / len(x)).tolist()), "active_units": active_units(torch.cat(mus))}


def charged_kl(kl_per_dim, free_bits: float) -> float:
    """What the loss charges for KL, before β: Σ_j max(λ, KL_j), from the
    per-dimension KL averaged over the whole set (not per batch)."""
    return float(sum(max(free_bits, v) for v in kl_per_dim)) if free_bits else float(sum(kl_per_dim))


def epoch_fields(model: AutoEncoder, train: list[float], test: dict[str, float], test_x: torch.Tensor,
                 final: bool = False) -> dict:
    """The VAE fields of an EpochEnd; {} for an autoencoder.

    `train` is the engine's [loss, mse, kl] means over the epoch's steps and
    `test` what core.engine.fit.evaluate returned. On train, β changed from step
    to step, so β·KL is read off the objective: (loss - mse) * 784. On test the
    charged KL is computed from the whole set's per-dimension KL, and
    `test_loss` is replaced by the objective with it. `final`: the run's last
    epoch, which adds the importance-weighted bound."""
    from core.nn.bound import default_k, iwae_bound, sampled_elbo

    stats = posterior_stats(model, test_x)
    if not stats:
        return {}
    beta_kl = float(model.beta) * charged_kl(stats["kl_per_dim"], model.free_bits)
    fields = {
        "test_loss": test["mse"] + beta_kl / IMAGE_DIM,
        "train_kl": train[2],
        "train_beta_kl": (train[0] - train[1]) * IMAGE_DIM,
        "test_beta_kl": beta_kl,
        "beta": float(model.beta),
        **stats,
        **sampled_elbo(model, test_x),
    }
    if final:
        fields.update(iwae_bound(model, test_x, default_k(test_x.device)))
    return fields
