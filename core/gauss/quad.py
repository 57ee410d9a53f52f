"""Adaptive quadrature for the 1-D expectations aekl prints (numpy only).

Why not Gauss–Hermite: ln p of a Gaussian mixture has complex singularities
close to the real axis (where the mixture density vanishes in the complex
plane), so a single high-order rule converges slowly and a 120-point sum was
1% off. A piecewise rule that bisects where its own error estimate is large
puts points where the integrand bends and is right to near rounding.

The rule on each piece is Gauss–Legendre with 10 and with 20 points: the 20-
point value is kept and |G20 − G10| is its (pessimistic) error estimate.
Pieces are refined all at once so the integrand is called on whole arrays.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

_X10, _W10 = np.polynomial.legendre.leggauss(10)
_X20, _W20 = np.polynomial.legendre.leggauss(20)
_NODES = np.concatenate([_X10, _X20])  # one call of f per piece evaluates both rules

# Standard-normal tails beyond ±40 hold less than e^(−800): nothing a float64 sum sees.
TAIL = 40.0


def integrate(f: Callable[[np.ndarray], np.ndarray], points, tol: float = 1e-14,
              max_pieces: int = 20_000, grain: float = 1.0) -> tuple[float, float]:
    """∫ f over [points[0], points[-1]], with the sorted `points` as the first
    breakpoints (put them where f bends: modes, component means).

    Returns (value, error estimate). A piece is split until its error estimate
    is below tol · max(1, |running total|) times its share of the interval, or
    below the rounding in f's values: ~100 ulps of its |f| mass, times `grain`
    where f's argument itself is coarser than its own ulp (see normal_expectation).
    """
    edges = np.unique(np.asarray(points, dtype=np.float64))
    lo, hi = edges[:-1], edges[1:]
    span = float(edges[-1] - edges[0])
    done_value, done_error = 0.0, 0.0
    while len(lo):
        half, mid = 0.5 * (hi - lo), 0.5 * (hi + lo)
        fx = f(mid[:, None] + half[:, None] * _NODES)  # (pieces, 30)
        g10 = half * (fx[:, :10] @ _W10)
        g20 = half * (fx[:, 10:] @ _W20)
        err = np.abs(g20 - g10)
        scale = max(1.0, abs(done_value + float(g20.sum())))
        # Below ~100 ulps of the piece's |f| mass the difference is rounding, not error.
        noise = 100 * grain * np.finfo(float).eps * half * (np.abs(fx[:, 10:]) @ _W20)
        ok = (err <= np.maximum(tol * scale * (hi - lo) / span, noise)) | (half < 1e-15 * np.maximum(1.0, np.abs(mid)))
        if len(lo) + 2 * int((~ok).sum()) > max_pieces:
            ok[:] = True  # give up refining; the error estimate says how far off
        done_value += float(g20[ok].sum())
        done_error += float(err[ok].sum())
        lo, hi, m = lo[~ok], hi[~ok], mid[~ok]
        lo, hi = np.concatenate([lo, m]), np.concatenate([m, hi])
    return done_value, done_error


def normal_expectation(g: Callable[[np.ndarray], np.ndarray], m: float, s: float,
                       marks=(), tol: float = 1e-14) -> float:
    """E[g(x)] for x ~ N(m, s²): ∫ φ(t) g(m + s t) dt over |t| ≤ 40, split at
    t = 0 and at each of `marks` (x-values where g bends) that lies inside."""
    inside = [(x - m) / s for x in marks if abs(x - m) < TAIL * s]
    points = sorted({-TAIL, TAIL, 0.0, *inside})
    norm = 1.0 / math.sqrt(2 * math.pi)

    def h(t: np.ndarray) -> np.ndarray:
        return norm * np.exp(-0.5 * t * t) * g(m + s * t)

    # x = m + s·t is known only to an ulp of m, |m|/s times coarser than t's own
    # steps: for a narrow q far from 0 (s = 1e-4 at m = 2) g's values carry that
    # rounding, and refining below it would only chase noise (for minutes).
    return integrate(h, points, tol, grain=1.0 + abs(m) / s)[0]
