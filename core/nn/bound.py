"""The VAE's test ELBO and importance-weighted bound, in nats and bits per dimension.

The likelihood the loss assumes. aekl minimises MSE per pixel + β·KL/784.
With a Gaussian decoder p(x|z) = N(x; x̂(z), σx² I) on the D = 784 pixels,

    −ln p(x|z) = D/2 · ln(2π σx²) + ‖x − x̂‖² / (2 σx²),

so −ELBO = D/2 · ln(2π σx²) + ‖x − x̂‖²/(2σx²) + KL, and (1/D)·2σx²·(−ELBO − const)
= MSE + 2σx²·KL/D: the loss is −ELBO up to scale and constant exactly when
β = 2σx². aekl reports the ELBO of σx² = ½ (β = 1): then
−ln p(x|z) = D/2 · ln π + ‖x − x̂‖² = 784 · (ln(π)/2 + MSE) nats per image.
A β ≠ 1 run is still scored against σx² = ½; its objective is not this ELBO.

Units. Pixels are scaled to x = v/127.5 − 1 ∈ [−1, 1] and the decoder is a
density on that continuous scale, so bits/dim = nats / (D ln 2) is of a density
on [−1, 1]^784; it can be negative and is not the discrete 8-bit likelihood
papers report. On the 0…255 scale the same density is 127.5 times thinner per
pixel: add log2(127.5) ≈ 6.994 bits/dim.

The bounds use z sampled from q(z|x) with a generator of their own, so
evaluating never moves the training noise (a resumed run stays exact).
"""

from __future__ import annotations

import math

import torch

from core.config import IMAGE_DIM

SIGMA_X2 = 0.5  # decoder variance of the reported ELBO: β = 2σx² = 1
ELBO_SAMPLES = 1  # z drawn per test image for the per-epoch ELBO
IWAE_K_GPU, IWAE_K_CPU = 64, 16  # importance samples at the end of a run (CPU: slower decoder)
ROWS = 50_000  # decodes per chunk (images × draws): bounds memory to a few hundred MB whatever k is
EVAL_SEED = 20_240_601  # the evaluation noise, fixed so that epochs compare
PIXEL_SCALE_BITS = math.log2(127.5)  # from [−1, 1] to the 0…255 scale, per dimension


def recon_nats(sq_error: torch.Tensor) -> torch.Tensor:
    """−ln p(x|z) per image from ‖x − x̂‖² (per image): D/2 ln(2πσx²) + ‖·‖²/(2σx²)."""
    return 0.5 * IMAGE_DIM * math.log(2 * math.pi * SIGMA_X2) + sq_error / (2 * SIGMA_X2)


def bits_per_dim(nats: float) -> float:
    return nats / (IMAGE_DIM * math.log(2))


def _generator(device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(EVAL_SEED)


def _log_weights(model, x: torch.Tensor, k: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    """For k draws z ~ q(z|x) per image: ln p(x|z), ln p(z) − ln q(z|x) (k, B) and the
    squared errors (k, B), all float64; and the closed-form KL per image (B,)."""
    from core.gauss.kl import kl_diag_standard

    mu, logvar = model.moments(x)
    eps = torch.randn((k, *mu.shape), generator=gen, device=mu.device, dtype=mu.dtype)
    z = mu + torch.exp(0.5 * logvar) * eps
    x_hat = model.decode(z.reshape(-1, mu.shape[-1])).reshape(k, *x.shape)
    sq = (x_hat - x).double().pow(2).sum(-1)
    # ln N(z; 0, I) − ln N(z; μ, σ²): the 2π terms cancel
    prior_minus_q = (-0.5 * z.double().pow(2) + 0.5 * eps.double().pow(2) + 0.5 * logvar.double()).sum(-1)
    kl = kl_diag_standard(mu.double(), logvar=logvar.double()).total
    return -recon_nats(sq), prior_minus_q, sq, kl


@torch.inference_mode()
def sampled_elbo(model, x: torch.Tensor, samples: int = ELBO_SAMPLES) -> dict:
    """The ELBO on `x` with `samples` draws of z per image: −ELBO in nats per
    image and bits/dim, its reconstruction and KL parts, and the MSE per pixel
    of the sampled reconstructions (comparable with the training MSE)."""
    was = model.training
    model.eval()
    gen = _generator(x.device)
    batch = max(1, ROWS // samples)
    recon = kl = sq = 0.0
    for start in range(0, len(x), batch):
        log_px, _, sq_b, kl_b = _log_weights(model, x[start:start + batch], samples, gen)
        recon -= float(log_px.mean(0).sum())
        kl += float(kl_b.sum())
        sq += float(sq_b.mean(0).sum())
    model.train(was)
    n = len(x)
    nelbo = (recon + kl) / n
    return {"test_nelbo": nelbo, "test_nelbo_bpd": bits_per_dim(nelbo), "test_recon_nats": recon / n,
            "test_sampled_mse": sq / (n * IMAGE_DIM), "elbo_samples": samples}


@torch.inference_mode()
def iwae_bound(model, x: torch.Tensor, k: int) -> dict:
    """−L_k, the importance-weighted bound with k samples (Burda et al. 2016):
    ln p(x) ≥ L_k = E ln (1/k) Σ_i p(x|z_i) p(z_i) / q(z_i|x) ≥ ELBO. Its
    negative is an estimate from above of −ln p(x), nats per image."""
    was = model.training
    model.eval()
    gen = _generator(x.device)
    batch = max(1, ROWS // k)
    total = mean_w = 0.0
    for start in range(0, len(x), batch):
        log_px, prior_minus_q, _, _ = _log_weights(model, x[start:start + batch], k, gen)
        w = log_px + prior_minus_q  # ln of the importance weights, (k, B)
        total += float((torch.logsumexp(w, 0) - math.log(k)).sum())
        mean_w += float(w.mean(0).sum())
    model.train(was)
    nll = -total / len(x)
    # The ELBO estimated from the same k draws (KL by Monte Carlo too): by
    # Jensen's inequality the mean of ln w never exceeds ln of the mean of w.
    return {"test_iwae_nll": nll, "test_iwae_bpd": bits_per_dim(nll), "iwae_k": k,
            "iwae_gap": -mean_w / len(x) - nll}


def default_k(device) -> int:
    return IWAE_K_CPU if torch.device(device).type == "cpu" else IWAE_K_GPU
