"""KL divergence between Gaussians: closed forms, the general Cholesky form,
a Monte Carlo check, and the counterexamples the derivations show.

numpy only, so that `aekl kl` starts without torch. The diagonal forms
(`exp_m1_m`, `kl_diag_standard`, `kl_diag_terms`) also take torch tensors and
then stay in torch, keeping dtype, device and autograd: that is the VAE's loss.

Conventions: KL(q ‖ p) = E_q[ln q(x) − ln p(x)], with q = N0 = N(μ0, Σ0) and
p = N1 = N(μ1, Σ1) in d dimensions. A covariance is a full (d, d) matrix or a
length-d vector holding the diagonal (the variances).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from core.errors import BadInput

# Below this |x| the series for e^x − 1 − x is used: expm1(x) − x still
# cancels (relative error ≈ 2·eps/|x|, about 1e-8 at x = 1e-8).
_SERIES_CUTOFF = 0.1
# 1/n! for n = 12 down to 2, for Horner's rule; the first omitted term,
# x^13/13!, is < 1e-21 relative to x²/2 at the cutoff.
_SERIES = [1.0 / math.factorial(n) for n in range(12, 1, -1)]

# Monte Carlo limits. Work grows as samples × d (× d with a full covariance),
# memory as chunk × d: both are bounded before anything is allocated.
MAX_SAMPLES = 10_000_000
MAX_DRAW_ENTRIES = 1_000_000_000  # samples × d
CHUNK_BYTES = 16 * 2**20  # one chunk of draws (float64); a few such arrays are live at once


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _ops(*xs):
    """(namespace, arrays): torch when any input is a tensor (the VAE's path),
    else numpy float64. Floating tensors keep their dtype and device."""
    if any(_is_torch(x) for x in xs):
        import torch

        ts = [x if _is_torch(x) and x.is_floating_point() else torch.as_tensor(x, dtype=torch.float64)
              for x in xs]
        dtype = ts[0].dtype
        for t in ts[1:]:
            dtype = torch.promote_types(dtype, t.dtype)
        return torch, [t.to(dtype) for t in ts]
    return np, [np.asarray(x, dtype=np.float64) for x in xs]


def exp_m1_m(x):
    """e^x − 1 − x to within 16 ulps for every x (numpy or torch): measured
    worst 15 ulps just above the series cutoff (x ≈ 0.12), where expm1(x) − x
    cancels (relative error ≈ 2·eps/|x|); a few ulps elsewhere.

    This is σ² − 1 − ln σ² with x = ln σ², the part of every diagonal KL term
    that vanishes at σ = 1, where it is ≈ x²/2 and naive forms lose all digits.
    """
    xp, (x,) = _ops(x)
    small = xp.abs(x) < _SERIES_CUTOFF
    # Feed the series only small values so the unused branch cannot overflow
    # and poison gradients through where() with inf·0.
    xs = xp.where(small, x, xp.zeros_like(x))
    poly = xp.full_like(xs, _SERIES[0])
    for c in _SERIES[1:]:
        poly = poly * xs + c
    with np.errstate(over="ignore"):
        return xp.where(small, xs * xs * poly, xp.expm1(x) - x)


class DiagKL(NamedTuple):
    """Per-dimension terms (shape (..., d)) and their sum over the last axis
    (shape (...)): for a VAE batch, `total` is the KL of each sample."""

    terms: Any
    total: Any


def kl_diag_standard(mu, sigma=None, logvar=None) -> DiagKL:
    """KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σ_j (σ_j² + μ_j² − 1 − ln σ_j²).

    Give exactly one of `sigma` or `logvar` (= ln σ², what a VAE encoder
    emits); they broadcast against mu and leading axes are batch axes. Values
    are not checked (the VAE's hot path must not sync the GPU); klinput
    validates what a person types.
    """
    if (sigma is None) == (logvar is None):
        raise TypeError("kl_diag_standard needs exactly one of sigma= or logvar=")
    xp, (mu, spread) = _ops(mu, sigma if logvar is None else logvar)
    lv = 2.0 * xp.log(spread) if logvar is None else spread
    terms = 0.5 * (exp_m1_m(lv) + mu * mu)
    return DiagKL(terms, terms.sum(-1))


def kl_diag_terms(mu0, logvar0, mu1, logvar1) -> DiagKL:
    """KL(N(μ0, diag e^lv0) ‖ N(μ1, diag e^lv1)) per dimension:
    ½ (e^t − 1 − t + (μ0 − μ1)² e^−lv1) with t = lv0 − lv1."""
    xp, (mu0, lv0, mu1, lv1) = _ops(mu0, logvar0, mu1, logvar1)
    with np.errstate(over="ignore", invalid="ignore"):
        # (Δμ e^(−lv1/2))², not Δμ² e^(−lv1): with Δμ = 0 and a tiny variance
        # the latter is 0 · inf = nan.
        shift = (mu0 - mu1) * xp.exp(-0.5 * lv1)
        terms = 0.5 * (exp_m1_m(lv0 - lv1) + shift * shift)
    return DiagKL(terms, terms.sum(-1))


def check_covariance(cov, d: int, field: str) -> np.ndarray:
    """Validate a covariance for a d-dimensional Gaussian and return it as an
    array (a symmetrised copy when full). Raises BadInput about `field`."""
    with np.errstate(all="ignore"):  # huge entries are judged below, not warned about
        return _checked_covariance(np.asarray(cov, dtype=np.float64), d, field)


def _checked_covariance(cov: np.ndarray, d: int, field: str) -> np.ndarray:
    if cov.size == 0:
        raise BadInput(field=field, rule="is empty")
    if not np.isfinite(cov).all():
        raise BadInput(field=field, rule="has a value that is not finite")
    if cov.ndim == 1:
        if cov.shape[0] != d:
            raise BadInput(field=field, rule=f"has {cov.shape[0]} diagonal entries but the mean has {d}")
        bad = np.flatnonzero(cov <= 0)
        if len(bad):
            i = int(bad[0])
            raise BadInput(field=field, rule=f"is not positive definite: variance [{i}] = {cov[i]:g} <= 0")
        return cov
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise BadInput(field=field, rule=f"must be a square matrix or a vector of variances, "
                                         f"got shape {tuple(cov.shape)}")
    if cov.shape[0] != d:
        raise BadInput(field=field, rule=f"is {cov.shape[0]}x{cov.shape[1]} but the mean has {d} entries")
    # Matrices built in floating point (A @ A.T, read from .npy) may be off
    # by rounding; anything beyond that is a real asymmetry.
    gap = np.abs(cov - cov.T)
    if gap.max() > 1e-10 * np.abs(cov).max():
        i, j = divmod(int(gap.argmax()), d)
        raise BadInput(field=field, rule=f"is not symmetric: [{i},{j}] = {cov[i, j]:g} "
                                         f"but [{j},{i}] = {cov[j, i]:g}")
    cov = 0.5 * cov + 0.5 * cov.T  # halves first: cov + cov.T overflows near 1e308
    try:
        np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise BadInput(field=field, rule="is not positive definite (its Cholesky factorisation fails)") from None
    return cov


@dataclass(frozen=True)
class Gaussian:
    """N(mean, cov): mean (d,), cov (d,) variances of a diagonal or (d, d).

    For a diagonal Gaussian, `logvar` (d,) keeps ln σ² exactly as given so
    that near σ = 1 nothing is lost to rounding σ² first.
    Build with the classmethods, which validate; the fields are not checked.
    """

    mean: np.ndarray
    cov: np.ndarray
    logvar: np.ndarray | None = None

    @classmethod
    def diag(cls, mean, sigma=None, logvar=None) -> "Gaussian":
        """Diagonal Gaussian from σ or ln σ²; a scalar broadcasts to the mean."""
        if (sigma is None) == (logvar is None):
            raise TypeError("Gaussian.diag needs exactly one of sigma= or logvar=")
        mean = np.asarray(mean, dtype=np.float64).reshape(-1)
        spread = np.asarray(sigma if logvar is None else logvar, dtype=np.float64).reshape(-1)
        with np.errstate(divide="ignore", over="ignore"):
            lv = 2.0 * np.log(spread) if logvar is None else spread
            var = spread * spread if logvar is None else np.exp(lv)  # σ² from σ itself: exact for σ = 3
        mean, lv, var = np.broadcast_arrays(mean, lv, var)
        return cls(mean.copy(), var.copy(), lv.copy())

    @classmethod
    def full(cls, mean, cov, field: str = "cov") -> "Gaussian":
        """Gaussian with a full covariance matrix or a diagonal vector."""
        mean = np.asarray(mean, dtype=np.float64).reshape(-1)
        cov = check_covariance(cov, mean.shape[0], field)
        return cls(mean, cov, np.log(cov)) if cov.ndim == 1 else cls(mean, cov)

    @classmethod
    def standard(cls, d: int) -> "Gaussian":
        return cls(np.zeros(d), np.ones(d), np.zeros(d))

    @property
    def dim(self) -> int:
        return self.mean.shape[-1]

    @property
    def is_diag(self) -> bool:
        return self.cov.ndim == 1

    @property
    def is_standard(self) -> bool:
        return self.is_diag and not self.mean.any() and not self.log_variances.any()

    @property
    def log_variances(self) -> np.ndarray:
        """ln Σ_jj per dimension (for a diagonal, exactly as given)."""
        if self.logvar is not None:
            return self.logvar
        return np.log(self.cov if self.is_diag else np.diagonal(self.cov))

    @property
    def variances(self) -> np.ndarray:
        return self.cov if self.is_diag else np.diagonal(self.cov)

    def matrix(self) -> np.ndarray:
        return np.diag(self.cov) if self.is_diag else self.cov

    def same_as(self, other: "Gaussian") -> bool:
        return self.same_covariance(other) and np.array_equal(self.mean, other.mean)

    def same_covariance(self, other: "Gaussian") -> bool:
        if self.is_diag and other.is_diag:
            return np.array_equal(self.log_variances, other.log_variances)
        return np.array_equal(self.matrix(), other.matrix())

    def log_density_1d(self, j: int, x: np.ndarray) -> np.ndarray:
        """ln of the marginal density of coordinate j at the points x."""
        lv = self.log_variances[j]
        white = (x - self.mean[j]) * np.exp(-0.5 * lv)  # not Δ² e^−lv: 0 · inf for a tiny σ
        return -0.5 * (white * white + lv + math.log(2 * math.pi))


def _scale_tril(g: Gaussian) -> np.ndarray:
    """Lower Cholesky factor L with L Lᵀ = Σ (a full matrix even for a diagonal)."""
    if g.is_diag:
        return np.diag(np.exp(0.5 * g.log_variances))
    return np.linalg.cholesky(g.cov)


class Parts(NamedTuple):
    """The pieces of the closed form for KL(N0 ‖ N1):
    ½ [trace + quad − d + log_det_ratio]."""

    trace: float  # tr(Σ1⁻¹ Σ0)
    quad: float  # (μ1 − μ0)ᵀ Σ1⁻¹ (μ1 − μ0)
    log_det_ratio: float  # ln(det Σ1 / det Σ0)


def _whiten(q: Gaussian, p: Gaussian) -> tuple[np.ndarray, np.ndarray, float]:
    """(A, b, ln(det Σ1/det Σ0)) with A = L1⁻¹ L0 and b = L1⁻¹ (μ0 − μ1).

    One factorisation of each covariance and one triangular solve (numpy has
    no triangular solver; its LU solve on a triangular L1 is as stable). A is
    lower triangular, so tr(Σ1⁻¹ Σ0) = ‖A‖²_F and the log-determinants come
    from the diagonals of the factors, never from det() (which overflows).
    """
    if q.is_diag and p.is_diag:
        s1 = np.exp(-0.5 * p.log_variances)
        return (np.diag(np.exp(0.5 * (q.log_variances - p.log_variances))), (q.mean - p.mean) * s1,
                float(np.sum(p.log_variances - q.log_variances)))
    L0, L1 = _scale_tril(q), _scale_tril(p)
    d = q.dim
    solved = np.linalg.solve(L1, np.concatenate([L0, (q.mean - p.mean)[:, None]], axis=1))
    A, b = np.tril(solved[:, :d]), solved[:, d]
    log_ratio = 2.0 * float(np.sum(np.log(np.diagonal(L1)) - np.log(np.diagonal(L0))))
    return A, b, log_ratio


def kl_parts(q: Gaussian, p: Gaussian) -> Parts:
    """tr(Σ1⁻¹ Σ0), (μ1 − μ0)ᵀ Σ1⁻¹ (μ1 − μ0) and ln(det Σ1/det Σ0)."""
    with np.errstate(over="ignore", invalid="ignore"):
        if q.is_diag and p.is_diag:
            t = np.exp(q.log_variances - p.log_variances)
            white = (q.mean - p.mean) * np.exp(-0.5 * p.log_variances)  # 0 · inf-safe, as in kl_diag_terms
            return Parts(float(t.sum()), float(np.sum(white * white)),
                         float(np.sum(p.log_variances - q.log_variances)))
        A, b, log_ratio = _whiten(q, p)
        return Parts(float(np.sum(A * A)), float(b @ b), log_ratio)


def _near_identity(q: Gaussian, p: Gaussian) -> float | None:
    """KL(q ‖ p) through the eigenvalues δ_j of L1⁻¹ (Σ0 − Σ1) L1⁻ᵀ, when
    all |δ_j| < ½; else None.

    With λ_j = 1 + δ_j the eigenvalues of Σ1⁻¹ Σ0, tr − d − ln det is
    Σ_j (λ_j − 1 − ln λ_j), a sum of tiny numbers when Σ0 ≈ Σ1 that the
    Cholesky route gets by subtracting numbers near d (a 1×1 covariance of
    1.00000001 would keep half its digits). Σ0 − Σ1 is exact there.
    """
    L1 = _scale_tril(p)
    diff = q.matrix() - p.matrix()
    half = np.linalg.solve(L1, diff)
    W = np.linalg.solve(L1, half.T)  # L1⁻¹ Δ L1⁻ᵀ (transposed twice: Δ is symmetric)
    delta = np.linalg.eigvalsh(0.5 * (W + W.T))
    if np.abs(delta).max() >= 0.5:
        return None
    b = np.linalg.solve(L1, q.mean - p.mean)
    return 0.5 * float(np.sum(exp_m1_m(np.log1p(delta))) + b @ b)


def kl(q: Gaussian, p: Gaussian) -> float:
    """KL(q ‖ p); inf when it overflows float64. Two diagonals use the
    accurate per-dimension form; anything else goes through Cholesky factors
    (no inverse, no det), or eigenvalues when the covariances nearly agree."""
    if q.dim != p.dim:
        raise BadInput(f"the two Gaussians have {q.dim} and {p.dim} dimensions")
    with np.errstate(over="ignore", invalid="ignore"):
        if q.is_diag and p.is_diag:
            value = float(kl_diag_terms(q.mean, q.log_variances, p.mean, p.log_variances).total)
        else:
            near = _near_identity(q, p)
            if near is not None:
                value = near
            else:
                parts = kl_parts(q, p)
                value = 0.5 * (parts.trace + parts.quad - q.dim + parts.log_det_ratio)
    return math.inf if math.isnan(value) else max(value, 0.0)


def kl_gaussians(mu0, cov0, mu1, cov1) -> float:
    """KL(N(μ0, Σ0) ‖ N(μ1, Σ1)) for full (d, d) or diagonal (d,) covariances;
    raises BadInput about cov0 or cov1 for a covariance that is not SPD or has
    the wrong shape."""
    mu0, mu1 = np.asarray(mu0, np.float64).reshape(-1), np.asarray(mu1, np.float64).reshape(-1)
    if mu0.shape != mu1.shape:
        raise BadInput(f"mu0 has {mu0.size} entries but mu1 has {mu1.size}")
    return kl(Gaussian.full(mu0, cov0, "cov0"), Gaussian.full(mu1, cov1, "cov1"))


def check_samples(n: int, d: int) -> None:
    """Refuse a Monte Carlo size before any draw is made."""
    if n < 0 or n == 1:
        raise BadInput(field="samples", rule=f"must be 0 (no Monte Carlo) or at least 2, got {n}")
    if n > MAX_SAMPLES:
        raise BadInput(field="samples", rule=f"must be at most {MAX_SAMPLES:,}, got {n:,}")
    if n * d > MAX_DRAW_ENTRIES:
        raise BadInput(field="samples", rule=f"times the dimension must be at most {MAX_DRAW_ENTRIES:,} "
                                             f"(here {n:,} × {d:,}); use at most {MAX_DRAW_ENTRIES // d:,}")


def chunk_size(d: int) -> int:
    """Draws per chunk so that one (chunk, d) float64 array is at most CHUNK_BYTES."""
    return max(1, min(1 << 16, CHUNK_BYTES // (8 * d)))


def kl_monte_carlo(q: Gaussian, p: Gaussian, n: int, seed: int = 0,
                   chunk: int | None = None) -> tuple[float, float]:
    """Estimate KL(q ‖ p) = E_q[ln q(z) − ln p(z)] from n draws of q.

    Each draw is z = μ0 + L0 ε with ε ~ N(0, I) (a matmul per chunk). With
    A = L1⁻¹ L0 and b = L1⁻¹ (μ0 − μ1) from one triangular solve,
    L1⁻¹ (z − μ1) = b + A ε, so ln q(z) − ln p(z) = ½ (‖b + A ε‖² − ‖ε‖²)
    + ½ ln(det Σ1/det Σ0): no per-draw factorisation, no (n, d, d) array.
    Memory is a few (chunk, d) arrays plus A; chunks merge by Chan et al.'s
    pairwise mean and variance. Returns (mean, standard error of the mean).
    """
    check_samples(n, q.dim)
    if n == 0:
        raise BadInput(field="samples", rule="must be at least 2 for a Monte Carlo estimate, got 0")
    chunk = chunk or chunk_size(q.dim)
    A, b, log_ratio = _whiten(q, p)
    diag = q.is_diag and p.is_diag
    scale = np.diagonal(A).copy() if diag else None
    rng = np.random.default_rng(seed)
    # Squared deviations are summed in units of `unit` (the first chunk's
    # mean, at least 1): at means near 1e300 even rounding-sized deviations
    # would overflow when squared.
    count, mean, m2, unit = 0, 0.0, 0.0, 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, n, chunk):
            eps = rng.standard_normal((min(chunk, n - start), q.dim))
            white = b + (eps * scale if diag else eps @ A.T)  # L1⁻¹ (z − μ1) for each draw
            r = 0.5 * (np.einsum("ij,ij->i", white, white) - np.einsum("ij,ij->i", eps, eps) + log_ratio)
            c, cm = r.size, float(r.mean())
            if count == 0:
                unit = max(1.0, abs(cm)) if math.isfinite(cm) else 1.0
            cm2 = float(np.sum(((r - cm) / unit) ** 2))
            if count == 0:  # nothing to merge with yet
                count, mean, m2 = c, cm, cm2
                continue
            delta = (cm - mean) / unit
            total = count + c
            mean += delta * unit * c / total
            m2 += cm2 + delta * delta * count * c / total
            count = total
    return mean, math.sqrt(m2 / (count - 1) / count) * unit


# --- counterexamples for the derivations ------------------------------------


class Asymmetry(NamedTuple):
    forward: float  # KL(q ‖ p)
    backward: float  # KL(p ‖ q)


def asymmetry(q: Gaussian, p: Gaussian) -> Asymmetry:
    return Asymmetry(kl(q, p), kl(p, q))


def asymmetry_example() -> tuple[Gaussian, Gaussian, Asymmetry]:
    """N(0, 4) (σ = 2) against N(0, 1): 0.806853 one way, 0.318147 the other."""
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
        return cls(P, Q, R, kl(P, R), kl(P, Q), kl(Q, R))


def triangle_example() -> Triangle:
    """N(0,1), N(1,1), N(2,1): KL(P‖R) = 2 > KL(P‖Q) + KL(Q‖R) = 0.5 + 0.5."""
    return Triangle.of(*(Gaussian.diag([m], sigma=[1.0]) for m in (0.0, 1.0, 2.0)))


def triangle_through_midpoint(P: Gaussian, R: Gaussian) -> Triangle:
    """P, the moment midpoint Q = N((μ_P + μ_R)/2, (Σ_P + Σ_R)/2), and R.

    With equal covariances KL is half a squared Mahalanobis distance, so the
    midpoint quarters each leg and the detour costs half the direct route:
    distinct means always violate the triangle inequality. With unequal
    covariances it usually does too; check `.violated`.
    """
    mean = 0.5 * (P.mean + R.mean)
    if P.is_diag and R.is_diag:
        Q = Gaussian(mean, 0.5 * (P.cov + R.cov))
    else:
        Q = Gaussian(mean, 0.5 * (P.matrix() + R.matrix()))
    return Triangle.of(P, Q, R)


def eigenvalues_ratio(q: Gaussian, p: Gaussian) -> np.ndarray:
    """The eigenvalues λ_j of Σ1⁻¹ Σ0 (those of A Aᵀ with A = L1⁻¹ L0)."""
    if q.is_diag and p.is_diag:
        return np.exp(q.log_variances - p.log_variances)
    A, _, _ = _whiten(q, p)
    return np.linalg.eigvalsh(A @ A.T)


def swapped_coordinates(q: Gaussian, p: Gaussian) -> list[tuple[int, int]]:
    """For two diagonals: the pairs (i, j), i < j, such that p is q with each
    pair of coordinates swapped (at least one pair, the rest equal); else []."""
    if not (q.is_diag and p.is_diag) or q.same_as(p):
        return []
    a = list(zip(q.mean.tolist(), q.log_variances.tolist()))
    b = list(zip(p.mean.tolist(), p.log_variances.tolist()))
    partner: dict[int, int] = {}
    for i in range(q.dim):
        if i in partner:
            continue
        if a[i] == b[i]:
            partner[i] = i
            continue
        # coordinates with the same (μ, ln σ²) are interchangeable, so the first fit will do
        j = next((j for j in range(i + 1, q.dim) if j not in partner and b[i] == a[j] and b[j] == a[i]), None)
        if j is None:
            return []
        partner[i], partner[j] = j, i
    return [(i, j) for i, j in partner.items() if i < j]
