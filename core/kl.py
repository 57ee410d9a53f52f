"""KL divergence between Gaussians: closed forms, the general Cholesky form,
a Monte Carlo check, and the counterexamples that `--explain` shows.

Pure torch: no typer, rich or textual here, so the VAE loss, the CLI and the
TUI all share one implementation. Python numbers and lists become float64
tensors; tensors that are already floating keep their dtype and device (the
VAE calls this in float32 with autograd on).

Conventions: KL(q ‖ p) = E_q[ln q(x) − ln p(x)]. A covariance is either a
full (k, k) matrix or a length-k vector holding the diagonal (the variances).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch

from core.errors import BadInput

__all__ = [
    "DiagKL", "Gaussian", "Asymmetry", "Triangle",
    "exp_m1_m", "kl_diag_standard", "kl_diag_terms", "kl_gaussians", "kl", "kl_parts",
    "kl_monte_carlo", "check_covariance", "asymmetry", "asymmetry_example",
    "triangle_example", "triangle_through_midpoint",
]

# Below this |x| the series for e^x − 1 − x is used: expm1(x) − x still
# cancels (relative error ≈ 2·eps/|x|, about 1e-8 at x = 1e-8).
_SERIES_CUTOFF = 0.1
# 1/n! for n = 12 down to 2, for Horner's rule; the first omitted term,
# x^13/13!, is < 1e-21 relative to x²/2 at the cutoff.
_SERIES = [1.0 / math.factorial(n) for n in range(12, 1, -1)]


def _tensor(x, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Floating tensors pass through untouched (dtype, device, autograd);
    everything else (lists, floats, integer tensors) becomes float64."""
    if isinstance(x, torch.Tensor) and x.is_floating_point():
        return x if dtype is None else x.to(dtype)
    return torch.as_tensor(x, dtype=dtype or torch.float64)


def _common(*xs) -> list[torch.Tensor]:
    """Tensors promoted to one floating dtype (float32 stays float32 unless
    mixed with float64)."""
    ts = [_tensor(x) for x in xs]
    dtype = ts[0].dtype
    for t in ts[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    return [t.to(dtype) for t in ts]


def exp_m1_m(x: torch.Tensor) -> torch.Tensor:
    """e^x − 1 − x, accurate to a few ulps for every x, differentiable.

    This is σ² − 1 − ln σ² with x = ln σ², the part of every diagonal KL term
    that vanishes at σ = 1, where it is ≈ x²/2 and naive forms lose all digits.
    """
    small = x.abs() < _SERIES_CUTOFF
    # Feed the series only small values so the unused branch cannot overflow
    # and poison gradients through torch.where with inf·0.
    xs = torch.where(small, x, torch.zeros_like(x))
    poly = torch.full_like(xs, _SERIES[0])
    for c in _SERIES[1:]:
        poly = poly * xs + c
    return torch.where(small, xs * xs * poly, torch.expm1(x) - x)


class DiagKL(NamedTuple):
    """Per-dimension terms (shape (..., k)) and their sum over the last dim
    (shape (...)): for a VAE batch, `total` is the KL of each sample."""

    terms: torch.Tensor
    total: torch.Tensor


def kl_diag_standard(mu, sigma=None, logvar=None) -> DiagKL:
    """KL(N(mu, diag σ²) ‖ N(0, I)) = ½ Σ (σ² + μ² − 1 − ln σ²).

    Give exactly one of `sigma` or `logvar` (= ln σ², what a VAE encoder
    emits). mu and sigma/logvar broadcast against each other; leading dims
    are batch dims. Values are not checked here (this is the VAE's hot path
    and a check would sync the GPU): klinput validates user input.
    """
    if (sigma is None) == (logvar is None):
        raise TypeError("kl_diag_standard needs exactly one of sigma= or logvar=")
    mu, spread = _common(mu, sigma if logvar is None else logvar)
    lv = 2.0 * torch.log(spread) if logvar is None else spread
    mu, lv = torch.broadcast_tensors(mu, lv)
    terms = 0.5 * (exp_m1_m(lv) + mu * mu)
    return DiagKL(terms, terms.sum(-1))


def kl_diag_terms(mu0, logvar0, mu1, logvar1) -> DiagKL:
    """KL(N(mu0, diag e^lv0) ‖ N(mu1, diag e^lv1)) per dimension:
    ½ (e^d − 1 − d + (mu0 − mu1)² e^−lv1) with d = lv0 − lv1."""
    mu0, lv0, mu1, lv1 = torch.broadcast_tensors(*_common(mu0, logvar0, mu1, logvar1))
    diff = mu0 - mu1
    terms = 0.5 * (exp_m1_m(lv0 - lv1) + diff * diff * torch.exp(-lv1))
    return DiagKL(terms, terms.sum(-1))


def check_covariance(cov, k: int, name: str) -> torch.Tensor:
    """Validate a covariance for a k-dimensional Gaussian and return it as a
    tensor (a symmetrised copy when full). Raises BadInput naming `name`."""
    cov = _tensor(cov)
    if cov.numel() == 0:
        raise BadInput(f"{name} is empty")
    if cov.ndim == 1:
        if cov.shape[0] != k:
            raise BadInput(f"{name} has {cov.shape[0]} diagonal entries but the mean has {k}")
        if not torch.isfinite(cov).all():
            raise BadInput(f"{name} has a value that is not finite")
        bad = (cov <= 0).nonzero()
        if len(bad):
            i = int(bad[0, 0])
            raise BadInput(f"{name} is not positive definite: variance [{i}] = {float(cov[i]):g} <= 0")
        return cov
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise BadInput(f"{name} must be a square matrix or a vector of variances, got shape {tuple(cov.shape)}")
    if cov.shape[0] != k:
        raise BadInput(f"{name} is {cov.shape[0]}x{cov.shape[1]} but the mean has {k} entries")
    if not torch.isfinite(cov).all():
        raise BadInput(f"{name} has a value that is not finite")
    # Matrices built in floating point (A @ A.T, read from .npy) may be
    # off by rounding; anything beyond that is a real asymmetry.
    scale = float(cov.detach().abs().max()) if cov.numel() else 0.0
    gap = (cov - cov.mT).detach().abs()
    if float(gap.max()) > 1e-10 * scale:
        i, j = divmod(int(gap.argmax()), k)
        raise BadInput(f"{name} is not symmetric: [{i},{j}] = {float(cov[i, j]):g} "
                       f"but [{j},{i}] = {float(cov[j, i]):g}")
    cov = 0.5 * (cov + cov.mT)
    _, info = torch.linalg.cholesky_ex(cov)
    if int(info) != 0:
        raise BadInput(f"{name} is not positive definite (Cholesky fails at leading minor {int(info)})")
    return cov


@dataclass(frozen=True)
class Gaussian:
    """N(mean, cov): mean (k,), cov (k,) variances of a diagonal or (k, k).

    For a diagonal Gaussian, `logvar` (k,) keeps ln σ² exactly as given so
    that near σ = 1 nothing is lost to rounding σ² first.
    Build with the classmethods, which validate; the fields are not checked.
    """

    mean: torch.Tensor
    cov: torch.Tensor
    logvar: torch.Tensor | None = None

    @classmethod
    def diag(cls, mean, sigma=None, logvar=None) -> "Gaussian":
        """Diagonal Gaussian from σ or ln σ²; a scalar broadcasts to the mean."""
        if (sigma is None) == (logvar is None):
            raise TypeError("Gaussian.diag needs exactly one of sigma= or logvar=")
        mean, spread = _common(mean, sigma if logvar is None else logvar)
        lv = 2.0 * torch.log(spread) if logvar is None else spread
        mean, lv = torch.broadcast_tensors(mean.reshape(-1), lv.reshape(-1))
        return cls(mean.clone(), torch.exp(lv), lv.clone())

    @classmethod
    def full(cls, mean, cov, name: str = "cov") -> "Gaussian":
        """Gaussian with a full covariance matrix or a diagonal vector."""
        mean, cov = _common(mean, cov)
        mean = mean.reshape(-1)
        cov = check_covariance(cov, mean.shape[0], name)
        if cov.ndim == 1:
            return cls(mean, cov, torch.log(cov))
        return cls(mean, cov)

    @classmethod
    def standard(cls, k: int, dtype=torch.float64) -> "Gaussian":
        return cls(torch.zeros(k, dtype=dtype), torch.ones(k, dtype=dtype), torch.zeros(k, dtype=dtype))

    @property
    def dim(self) -> int:
        return self.mean.shape[-1]

    @property
    def is_diag(self) -> bool:
        return self.cov.ndim == 1

    @property
    def log_variances(self) -> torch.Tensor:
        """ln σ² per dimension (diagonal only)."""
        return self.logvar if self.logvar is not None else torch.log(self.cov)

    def matrix(self) -> torch.Tensor:
        return torch.diag_embed(self.cov) if self.is_diag else self.cov

    def scale_tril(self) -> torch.Tensor:
        """Lower Cholesky factor L with L Lᵀ = cov."""
        if self.is_diag:
            return torch.diag_embed(torch.exp(0.5 * self.log_variances))
        return torch.linalg.cholesky(self.cov)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws, shape (n, k); the noise is drawn on the CPU so that a seed
        gives the same numbers on every device."""
        eps = torch.randn(n, self.dim, generator=generator, dtype=self.mean.dtype).to(self.mean.device)
        if self.is_diag:
            return self.mean + eps * torch.exp(0.5 * self.log_variances)
        return self.mean + eps @ self.scale_tril().mT

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """ln density at x (..., k) -> (...)."""
        k = self.dim
        diff = x - self.mean
        if self.is_diag:
            lv = self.log_variances
            maha = (diff * diff * torch.exp(-lv)).sum(-1)
            logdet = lv.sum()
        else:
            L = torch.linalg.cholesky(self.cov)
            z = torch.linalg.solve_triangular(L, diff.unsqueeze(-1), upper=False).squeeze(-1)
            maha = (z * z).sum(-1)
            logdet = 2.0 * torch.log(torch.diagonal(L)).sum()
        return -0.5 * (maha + logdet + k * math.log(2 * math.pi))


def kl(q: Gaussian, p: Gaussian) -> torch.Tensor:
    """KL(q ‖ p) as a 0-dim tensor. Two diagonals use the accurate per-dim
    form; anything else goes through Cholesky factors (no inverse, no det)."""
    if q.dim != p.dim:
        raise BadInput(f"the two Gaussians have {q.dim} and {p.dim} dimensions")
    if q.is_diag and p.is_diag:
        return kl_diag_terms(q.mean, q.log_variances, p.mean, p.log_variances).total
    trace, quad, logdet1, logdet0 = kl_parts(q, p)
    return 0.5 * (trace + quad - q.dim + logdet1 - logdet0)


def kl_parts(q: Gaussian, p: Gaussian) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The four pieces of the closed form for q = N(m0, S0), p = N(m1, S1):
    tr(S1⁻¹ S0), (m1 − m0)ᵀ S1⁻¹ (m1 − m0), ln det S1, ln det S0.

    With S = L Lᵀ: tr(S1⁻¹ S0) = ‖L1⁻¹ L0‖²_F and the quadratic form is
    ‖L1⁻¹ (m1 − m0)‖², both from triangular solves.
    """
    L0, L1 = q.scale_tril(), p.scale_tril()
    A = torch.linalg.solve_triangular(L1, L0, upper=False)
    d = torch.linalg.solve_triangular(L1, (p.mean - q.mean).unsqueeze(-1), upper=False)
    trace = (A * A).sum()
    quad = (d * d).sum()
    logdet1 = 2.0 * torch.log(torch.diagonal(L1)).sum()
    logdet0 = 2.0 * torch.log(torch.diagonal(L0)).sum()
    return trace, quad, logdet1, logdet0


def kl_gaussians(mu0, cov0, mu1, cov1) -> torch.Tensor:
    """KL(N(mu0, cov0) ‖ N(mu1, cov1)) for full (k, k) or diagonal (k,)
    covariances; raises BadInput for a covariance that is not SPD or has the
    wrong shape, naming cov0 or cov1."""
    mu0, cov0, mu1, cov1 = _common(mu0, cov0, mu1, cov1)
    if mu0.reshape(-1).shape != mu1.reshape(-1).shape:
        raise BadInput(f"mu0 has {mu0.numel()} entries but mu1 has {mu1.numel()}")
    return kl(Gaussian.full(mu0, cov0, "cov0"), Gaussian.full(mu1, cov1, "cov1"))


def kl_monte_carlo(p: Gaussian, q: Gaussian, n: int, seed: int = 0,
                   chunk: int = 1 << 16) -> tuple[float, float]:
    """Estimate KL(p ‖ q) = E_p[ln p − ln q] from n draws of p.

    Returns (mean, standard error of the mean). Draws are made in chunks and
    the running mean/variance merged (Chan et al.) so memory stays bounded.
    """
    if n < 2:
        raise BadInput(f"Monte Carlo needs at least 2 samples, got {n}")
    gen = torch.Generator().manual_seed(seed)
    count, mean, m2 = 0, 0.0, 0.0
    with torch.no_grad():
        for start in range(0, n, chunk):
            x = p.sample(min(chunk, n - start), gen)
            r = (p.log_prob(x) - q.log_prob(x)).double()
            c, cm = r.numel(), float(r.mean())
            cm2 = float(((r - cm) ** 2).sum())
            delta = cm - mean
            total = count + c
            mean += delta * c / total
            m2 += cm2 + delta * delta * count * c / total
            count = total
    return mean, math.sqrt(m2 / (count - 1) / count)


# --- counterexamples for `--explain` -------------------------------------


class Asymmetry(NamedTuple):
    forward: float  # KL(q ‖ p)
    backward: float  # KL(p ‖ q)


def asymmetry(q: Gaussian, p: Gaussian) -> Asymmetry:
    return Asymmetry(float(kl(q, p)), float(kl(p, q)))


def asymmetry_example() -> tuple[Gaussian, Gaussian, Asymmetry]:
    """N(0, 4) (σ = 2) against N(0, 1): 0.8069 one way, 0.3181 the other."""
    q = Gaussian.diag([0.0], sigma=[2.0])
    p = Gaussian.standard(1)
    return q, p, asymmetry(q, p)


@dataclass(frozen=True)
class Triangle:
    """Three Gaussians and the three divergences along P → Q → R."""

    P: Gaussian
    Q: Gaussian
    R: Gaussian
    pr: float  # KL(P ‖ R)
    pq: float  # KL(P ‖ Q)
    qr: float  # KL(Q ‖ R)

    @property
    def violated(self) -> bool:
        """True when the direct divergence beats the detour, which a metric forbids."""
        return self.pr > self.pq + self.qr

    @classmethod
    def of(cls, P: Gaussian, Q: Gaussian, R: Gaussian) -> "Triangle":
        return cls(P, Q, R, float(kl(P, R)), float(kl(P, Q)), float(kl(Q, R)))


def triangle_example() -> Triangle:
    """N(0,1), N(1,1), N(2,1): KL(P‖R) = 2.0 > KL(P‖Q) + KL(Q‖R) = 0.5 + 0.5."""
    one = [1.0]
    return Triangle.of(*(Gaussian.diag([m], sigma=one) for m in (0.0, 1.0, 2.0)))


def triangle_through_midpoint(P: Gaussian, R: Gaussian) -> Triangle:
    """P, the moment midpoint Q = N((m_P + m_R)/2, (S_P + S_R)/2), and R.

    With equal covariances KL is half a squared Mahalanobis distance, so the
    midpoint halves each leg and the detour costs half the direct route:
    distinct means always violate the triangle inequality. With unequal
    covariances it usually does too; check `.violated`.
    """
    mean = 0.5 * (P.mean + R.mean)
    if P.is_diag and R.is_diag:
        Q = Gaussian(mean, 0.5 * (P.cov + R.cov))
    else:
        Q = Gaussian(mean, 0.5 * (P.matrix() + R.matrix()))
    return Triangle.of(P, Q, R)
