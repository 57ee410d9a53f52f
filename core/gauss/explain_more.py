"""Parts (iv)–(vi) of `aekl kl --explain`, in the notation of parts (i)–(iii):

(iv) KL is not a metric — what is? Jeffreys, Jensen–Shannon (whose square
root is a metric), total variation and Pinsker's bound, with the user's
numbers; (v) ln p(x) = ELBO + KL(q(z|x) ‖ p(z|x)); (vi) the mean KL term of a
VAE = mutual information + KL(aggregate posterior ‖ prior).

Plain Markdown steps, like core.gauss.explain, so the app reveals them one
at a time. `divergence_values` gives the numbers to any face.
"""

from __future__ import annotations

import math

from core.gauss.divergences import divergences
from core.gauss.kl import Gaussian, triangle_example
from core.present.numbers import prose


def _estimate(e, what: str) -> str:
    if not e.samples:
        return f"{prose(e.value)}   (adaptive quadrature, error below 1e-12)"
    return (f"{prose(e.value)} ± {prose(e.stderr, 2)}   (Monte Carlo: {e.samples:,} draws from each "
            f"Gaussian, ± one standard error; {what} has no closed form)")


def divergence_steps(q: Gaussian, p: Gaussian, forward: float | None = None,
                     backward: float | None = None) -> list[str]:
    div = divergences(q, p, forward=forward, backward=backward)
    tri = triangle_example()
    steps = ["""## (iv) KL is not a metric — what is?

**Jeffreys divergence.** Symmetrise by adding both directions:
J(N0, N1) = KL(N0 ‖ N1) + KL(N1 ‖ N0). For Gaussians the log-determinants cancel:

```text
J = ½ [tr(Σ1⁻¹ Σ0) + tr(Σ0⁻¹ Σ1) − 2d + (μ1 − μ0)ᵀ (Σ0⁻¹ + Σ1⁻¹) (μ1 − μ0)]
```

J is symmetric and 0 only when N0 = N1, but still not a metric: with equal covariances it is
the squared Mahalanobis distance, and squares break the triangle inequality."""]
    # part (ii) names P, Q and R only when your numbers cannot break the triangle
    # inequality themselves, so they are defined here again rather than referred to
    steps.append(f"""**With your numbers**, and with P = N(0, 1), Q = N(1, 1), R = N(2, 1) (where
KL(N(a, 1) ‖ N(b, 1)) = ½ (a − b)², so J = (a − b)²):

```text
J(N0, N1) = {prose(div.forward)} + {prose(div.backward)} = {prose(div.jeffreys)}
J(P, R) = {prose(2 * tri.pr)} > J(P, Q) + J(Q, R) = {prose(2 * tri.pq)} + {prose(2 * tri.qr)}
```""")
    steps.append(f"""**Jensen–Shannon.** Compare each with their mixture M = ½ (N0 + N1):

```text
JS(N0, N1) = ½ KL(N0 ‖ M) + ½ KL(N1 ‖ M)
```

M is not Gaussian, so there is no closed form. JS is symmetric, lies between 0 and ln 2 =
{prose(math.log(2))} nats (M ≥ N0/2, so ln(N0/M) ≤ ln 2), and is finite even where KL is not, because
M > 0 wherever N0 or N1 is. Its square root is a metric (Endres and Schindelin, 2003).
With your numbers:

```text
JS(N0, N1)  = {_estimate(div.js, "JS")}
√JS(N0, N1) = {prose(div.js_distance)}   (a distance: symmetric, triangle inequality holds)
```""")
    steps.append(f"""**Total variation and Pinsker's inequality.** TV(N0, N1) = sup_A |N0(A) − N1(A)|
= ½ ∫ |N0 − N1| dx is a metric, and KL bounds it: TV ≤ √(KL/2) (Pinsker), in either direction,
so the smaller KL gives the tighter bound. With your numbers:

```text
TV(N0, N1)           = {_estimate(div.tv, "TV")}
√(min KL / 2)        = √({prose(min(div.forward, div.backward))} / 2) = {prose(div.pinsker)}
```

A small KL forces a small TV; a small TV does not force a small KL.""")
    return steps


def divergence_values(q: Gaussian, p: Gaussian) -> dict:
    """The numbers of part (iv) for a face (JSON, the app): nats, TV a probability."""
    div = divergences(q, p)
    return {"kl_forward": div.forward, "kl_backward": div.backward, "jeffreys": div.jeffreys,
            "js": div.js.value, "js_stderr": div.js.stderr, "js_samples": div.js.samples,
            "js_distance": div.js_distance, "tv": div.tv.value, "tv_stderr": div.tv.stderr,
            "pinsker_bound": div.pinsker}


def elbo_steps(q: Gaussian, p: Gaussian, forward: float) -> list[str]:
    """(v) and (vi): where the VAE's KL term comes from and what it measures."""
    yours = ""
    if p.is_standard and q.is_diag:
        yours = (f"\n\nWith your numbers, if N0 were an encoder's q(z|x) for one image x, its KL term "
                 f"would be KL(q(z|x) ‖ p(z)) = {prose(forward)} nats: that much of −ELBO is paid for "
                 "the code, whatever the reconstruction.")
    return ["""## (v) The ELBO: ln p(x) = ELBO + KL(q(z|x) ‖ p(z|x))

**Bayes' rule.** For every z with p(z|x) > 0, p(z|x) = p(x|z) p(z) / p(x), so

```text
ln p(x) = ln p(x, z) − ln p(z|x)            (the left side does not depend on z)
```""",
            """**Average over z ~ q(z|x),** and add and subtract ln q(z|x) inside:

```text
ln p(x) = E_q[ln p(x, z) − ln q(z|x)] + E_q[ln q(z|x) − ln p(z|x)]
        = ELBO(x)                     + KL(q(z|x) ‖ p(z|x))
```

The left side is a constant, so its average is itself. By part (i) the KL is ≥ 0, so the
ELBO is a lower bound on ln p(x), reached exactly when q(z|x) = p(z|x) almost everywhere.""",
            """**The two terms a VAE computes.** Split ln p(x, z) = ln p(x|z) + ln p(z):

```text
ELBO(x) = E_q[ln p(x|z)] − KL(q(z|x) ‖ p(z))
```

The first is the reconstruction (estimated with sampled z); the second is part (iii)'s closed
form against p(z) = N(0, I).""" + yours,
            """## (vi) The mean KL term = mutual information + KL(aggregate posterior ‖ prior)

**The aggregate posterior** is q(z) = E_x[q(z|x)], the codes of the whole data set pooled.
Add and subtract ln q(z) inside the mean KL term:

```text
E_x KL(q(z|x) ‖ p(z)) = E_x E_q(z|x)[ln q(z|x) − ln q(z)] + E_x E_q(z|x)[ln q(z) − ln p(z)]
                      = I_q(x; z)                       + KL(q(z) ‖ p(z))
```

The first is the mutual information between the image and its code under q (the mean of
KL(q(z|x) ‖ q(z))); in the second, drawing x and then z ~ q(z|x) is drawing z ~ q(z), so it is
the KL of the aggregate posterior to the prior (Hoffman and Johnson, 2016).""",
            """**What it means.** Both parts are ≥ 0, so the KL term is an upper bound on the
information the code carries, not the information itself: ranking latent dimensions by their
KL ranks them by that bound. And I_q(x; z) ≤ ln N for N images (z can at most tell them
apart): for MNIST's 10,000 test images ln 10,000 = """ + prose(math.log(10_000)) + """ nats, so a
mean KL above that is, in part, KL(q(z) ‖ p(z)): the pooled codes do not match the prior."""]
