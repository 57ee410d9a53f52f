"""What to use when a metric is wanted: Jeffreys, Jensen–Shannon, total
variation; and the Cauchy example of part (i). numpy only.

Jeffreys has a closed form for Gaussians. Jensen–Shannon and total
variation do not: in one dimension they are adaptive integrals
(core.gauss.quad), in more a Monte Carlo mean with its standard error.
Everything is in nats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.gauss.kl import Gaussian, chunk_size, kl
from core.gauss.quad import normal_expectation

LN2 = math.log(2.0)
MC_SAMPLES = 20_000  # draws from each Gaussian when d ≥ 2 (fewer when d is large)
MC_MIN_SAMPLES = 500
MC_WORK = 2e9  # about the multiply-adds allowed: 6 d per draw (diagonal), 6 d² (full covariance)


def normal_against_cauchy() -> float:
    """KL(N(0, 1) ‖ standard Cauchy) = ln π − ½ ln 2π − ½ + E[ln(1 + x²)]."""
    expected = normal_expectation(lambda x: np.log1p(x * x), 0.0, 1.0)
    return math.log(math.pi) - 0.5 * math.log(2 * math.pi) - 0.5 + expected


class _Sampler:
    """One Gaussian's factor L (L Lᵀ = Σ) and its inverse, made once: drawing
    is x = μ + ε Lᵀ and the log-density whitens with L⁻¹, both one matmul per
    chunk, so a d = 4096 covariance is factorised twice, not per chunk."""

    def __init__(self, g: Gaussian):
        self.g = g
        if g.is_diag:
            self.scale = np.exp(0.5 * g.log_variances)
            self.log_det = float(np.sum(g.log_variances))
        else:
            self.L = np.linalg.cholesky(g.cov)
            self.L_inv = np.linalg.inv(self.L)  # triangular; numpy has no triangular solve
            self.log_det = 2.0 * float(np.sum(np.log(np.diagonal(self.L))))

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        eps = rng.standard_normal((n, self.g.dim))
        return self.g.mean + (eps * self.scale if self.g.is_diag else eps @ self.L.T)

    def log_density(self, x: np.ndarray) -> np.ndarray:
        """ln N(x; μ, Σ) for rows x (n, d)."""
        centred = x - self.g.mean
        white = centred / self.scale if self.g.is_diag else centred @ self.L_inv.T
        return -0.5 * (np.einsum("ij,ij->i", white, white) + self.log_det + self.g.dim * math.log(2 * math.pi))


@dataclass(frozen=True)
class Estimate:
    value: float
    stderr: float  # 0 for quadrature (error below 1e-12)
    samples: int  # draws from each Gaussian; 0 for quadrature


def _js_parts(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ln P = a and ln Q = b at the same points: ln P − ln M and the TV integrand
    max(0, 1 − Q/P), with M = (P + Q)/2 computed in logs."""
    with np.errstate(over="ignore", invalid="ignore"):
        log_m = np.logaddexp(a, b) - LN2
        return a - log_m, np.maximum(0.0, -np.expm1(np.minimum(b - a, 0.0)))


def _crossings(q: Gaussian, p: Gaussian) -> list[float]:
    """Where the two 1-D densities are equal: roots of a quadratic in x."""
    m0, m1 = float(q.mean[0]), float(p.mean[0])
    v0, v1 = math.exp(float(q.log_variances[0])), math.exp(float(p.log_variances[0]))
    # ln q − ln p = 0  ⇔  a x² + b x + c = 0
    a = 0.5 / v1 - 0.5 / v0
    b = m0 / v0 - m1 / v1
    c = 0.5 * m1 * m1 / v1 - 0.5 * m0 * m0 / v0 + 0.5 * (float(p.log_variances[0]) - float(q.log_variances[0]))
    if a == 0:
        return [] if b == 0 else [-c / b]
    disc = b * b - 4 * a * c
    if disc < 0:
        return []
    r = math.sqrt(disc)
    return [(-b - r) / (2 * a), (-b + r) / (2 * a)]


def _one_d(q: Gaussian, p: Gaussian) -> tuple[float, float]:
    """(JS, TV) of two 1-D Gaussians by adaptive quadrature."""
    marks = [float(q.mean[0]), float(p.mean[0]), *_crossings(q, p)]

    def half(g: Gaussian, h: Gaussian, part: int) -> float:
        s = math.exp(0.5 * float(g.log_variances[0]))
        return normal_expectation(
            lambda x: _js_parts(g.log_density_1d(0, x), h.log_density_1d(0, x))[part], float(g.mean[0]), s, marks)

    js = 0.5 * (half(q, p, 0) + half(p, q, 0))
    return js, half(q, p, 1)


def _monte_carlo(q: Gaussian, p: Gaussian, n: int, seed: int) -> tuple[Estimate, Estimate]:
    rng = np.random.default_rng(seed)
    sq, sp = _Sampler(q), _Sampler(p)
    js_q, js_p, tv = [], [], []
    chunk = chunk_size(q.dim)
    for start in range(0, n, chunk):
        k = min(chunk, n - start)
        x, y = sq.draw(k, rng), sp.draw(k, rng)
        a, tvx = _js_parts(sq.log_density(x), sp.log_density(x))
        b, _ = _js_parts(sp.log_density(y), sq.log_density(y))
        js_q.append(a), js_p.append(b), tv.append(tvx)
    a, b, t = np.concatenate(js_q), np.concatenate(js_p), np.concatenate(tv)
    js = Estimate(0.5 * float(a.mean() + b.mean()), 0.5 * math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / n), n)
    return js, Estimate(float(t.mean()), math.sqrt(t.var(ddof=1) / n), n)


@dataclass(frozen=True)
class Divergences:
    forward: float  # KL(q ‖ p)
    backward: float  # KL(p ‖ q)
    jeffreys: float  # KL(q ‖ p) + KL(p ‖ q)
    js: Estimate  # Jensen–Shannon, nats, in [0, ln 2]
    tv: Estimate  # total variation sup_A |q(A) − p(A)|, in [0, 1]

    @property
    def js_distance(self) -> float:
        """√JS, a metric (Endres & Schindelin 2003)."""
        return math.sqrt(max(self.js.value, 0.0))

    @property
    def pinsker(self) -> float:
        """Pinsker's bound TV ≤ √(KL/2), with the smaller of the two KLs."""
        return math.sqrt(0.5 * min(self.forward, self.backward))


def mc_samples(q: Gaussian, p: Gaussian) -> int:
    """Draws from each Gaussian for the d ≥ 2 estimates: 20,000 unless the work would be large."""
    per_draw = 6 * q.dim * (1 if q.is_diag and p.is_diag else q.dim)
    return int(max(MC_MIN_SAMPLES, min(MC_SAMPLES, MC_WORK // per_draw)))


def divergences(q: Gaussian, p: Gaussian, seed: int = 0, forward: float | None = None,
                backward: float | None = None) -> Divergences:
    """Every number of part (iv); pass the two KLs when they are known already."""
    forward = kl(q, p) if forward is None else forward
    backward = kl(p, q) if backward is None else backward
    if q.dim == 1:
        js, tv = _one_d(q, p)
        js_e, tv_e = Estimate(js, 0.0, 0), Estimate(tv, 0.0, 0)
    else:
        n = mc_samples(q, p)
        js_e, tv_e = _monte_carlo(q, p, n, seed)
    return Divergences(forward, backward, forward + backward, js_e, tv_e)
