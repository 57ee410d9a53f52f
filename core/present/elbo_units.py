"""The VAE's test ELBO and IWAE bound as sentences, from a metrics row.

Torch-free, so `aekl show` and the app word them the same way. The numbers
come from core.nn.bound; every key is optional (rows written before these
numbers existed have none) and a value that is not a finite number is left out.
"""

from __future__ import annotations

import math

LIKELIHOOD = ("likelihood: p(x|z) = N(x; decoder(z), σx² I) on the 784 pixels scaled to [−1, 1], "
              "σx² = ½, so −ln p(x|z) = 392 ln π + ‖x − x̂‖² = 784 (ln(π)/2 + MSE) nats; the loss "
              "MSE + β·KL/784 is −ELBO/784 up to a constant when β = 2σx² = 1")
UNITS = ("bits/dim = nats / (784 ln 2), of a continuous density on [−1, 1]^784 (it can be negative); "
         "on the 0…255 pixel scale add log2 127.5 = 6.994; not the discrete 8-bit likelihood of papers")
FREE_BITS = "β·KL column: what the loss charges, β·Σ_j max(λ, KL_j) over the whole test set (λ = free bits)"


def _num(row: dict, key: str) -> float | None:
    v = row.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def elbo_lines(row: dict) -> list[str]:
    """What one epoch's row says about the ELBO and IWAE bound; [] when it has neither."""
    lines = []
    nelbo, bpd, samples = _num(row, "test_nelbo"), _num(row, "test_nelbo_bpd"), _num(row, "elbo_samples")
    if nelbo is not None and bpd is not None:
        recon, mse, kl = _num(row, "test_recon_nats"), _num(row, "test_sampled_mse"), _num(row, "test_kl")
        drawn = f"{int(samples)} z per image drawn from q(z|x)" if samples else "z drawn from q(z|x)"
        lines.append(f"test −ELBO = {nelbo:.2f} nats per image = {bpd:.4f} bits/dim ({drawn})")
        if recon is not None and kl is not None:
            lines.append(f"  = reconstruction {recon:.2f} + KL {kl:.2f} nats"
                         + (f"; sampled-z MSE {mse:.5f} per pixel" if mse is not None else "")
                         + (f" (the mean code gives {row['test_mse']:.5f})" if _num(row, "test_mse") is not None else ""))
    nll, k, gap = _num(row, "test_iwae_nll"), _num(row, "iwae_k"), _num(row, "iwae_gap")
    if nll is not None and k:
        iw_bpd = _num(row, "test_iwae_bpd")
        lines.append(f"IWAE bound, k = {int(k)}: −ln p(x) ≤ {nll:.2f} nats per image"
                     + (f" = {iw_bpd:.4f} bits/dim" if iw_bpd is not None else "")
                     + (f"; {gap:.2f} nats tighter than the ELBO from the same {int(k)} draws" if gap is not None else ""))
    return lines


def elbo_short(row: dict) -> str:
    """One short line for a panel's border: −ELBO and, at the end of a run, the IWAE bound."""
    nelbo, bpd = _num(row, "test_nelbo"), _num(row, "test_nelbo_bpd")
    if nelbo is None or bpd is None:
        return ""
    text = f"−ELBO {nelbo:.1f} nats = {bpd:.3f} bits/dim"
    nll, k = _num(row, "test_iwae_nll"), _num(row, "iwae_k")
    if nll is not None and k:
        text += f" · IWAE(k={int(k)}) {nll:.1f}"
    return text + " (σx² = ½)"
