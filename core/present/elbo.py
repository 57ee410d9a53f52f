"""A VAE's ELBO in words: when has the posterior collapsed. Torch-free, so
the app can say it on its UI thread (core.nn.elbo computes the numbers)."""

from __future__ import annotations

# nats: a dimension with less KL than this carries almost nothing (a used
# dimension of a trained MNIST VAE carries one nat or more)
QUIET_KL = 0.1


def collapse_warning(kl_per_dim: list[float] | tuple[float, ...], quiet: float = QUIET_KL) -> str | None:
    """A sentence when most latent dimensions carry almost no KL, else None
    (also None for a list that is not all numbers: a damaged row says nothing)."""
    if not isinstance(kl_per_dim, (list, tuple)) or not kl_per_dim:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in kl_per_dim):
        return None
    idle = sum(1 for v in kl_per_dim if v < quiet)
    if idle * 2 <= len(kl_per_dim):
        return None
    return (
        f"posterior collapse: {idle} of {len(kl_per_dim)} latent dimensions carry almost no information "
        f"(KL below {quiet} nats each). There the encoder answers N(0, 1) whatever the image, so the "
        f"decoder learns to ignore them. A smaller beta, a KL warm-up or free bits leave room to use them."
    )
