"""The derivations behind `aekl kl --explain`, as a Markdown string.

Three parts, each with the user's own numbers where they fit:
(1) KL ≥ 0 from ln t ≤ t − 1; (2) KL is not a metric (asymmetry and a
broken triangle inequality); (3) the closed form for two Gaussians and its
reduction to ½ Σ(σ² + μ² − 1 − ln σ²) against N(0, I).

Plain text only (no rich): the CLI renders it with rich's Markdown and the
TUI with Textual's. Display maths sits in fenced blocks so that characters
like _ and * are never taken as emphasis.
"""

from __future__ import annotations

import math

import torch

from core.kl import (Gaussian, asymmetry, asymmetry_example, exp_m1_m, kl_parts, triangle_example,
                     triangle_through_midpoint)

MAX_ROWS = 6  # per-dimension detail beyond this is elided


def _n(x: float, places: int = 4) -> str:
    """A number with a proper minus sign."""
    return f"{x:.{places}f}".replace("-", "−")


def _signed(x: float) -> str:
    """'+ 1.2000' or '− 1.2000', to continue a sum."""
    return f"{'−' if x < 0 else '+'} {_n(abs(x))}"


def _g(x: float) -> str:
    return f"{x:g}".replace("-", "−")


def _vec(t: torch.Tensor) -> str:
    values = t.tolist()
    shown = ", ".join(_g(v) for v in values[:MAX_ROWS])
    return f"({shown}{', …' if len(values) > MAX_ROWS else ''})"


def _is_standard(g: Gaussian) -> bool:
    return g.is_diag and not g.mean.any() and not g.log_variances.any()


def describe(g: Gaussian) -> str:
    if _is_standard(g):
        return "N(0, I)" if g.dim > 1 else "N(0, 1)"
    if g.is_diag:
        sigma = torch.exp(0.5 * g.log_variances)
        return f"N(μ = {_vec(g.mean)}, σ = {_vec(sigma)})"
    rows = ", ".join(_vec(r) for r in g.cov[:MAX_ROWS])
    more = ", …" if g.dim > MAX_ROWS else ""
    return f"N(μ = {_vec(g.mean)}, Σ = [{rows}{more}])"


def _part_nonnegative(q: Gaussian, p: Gaussian, forward: float) -> str:
    verdict = "zero because q = p" if forward == 0 else "positive because q ≠ p"
    text = f"""## 1. KL is never negative

Write t(x) = p(x) / q(x). The logarithm lies below its tangent at 1,
ln t ≤ t − 1, with equality only at t = 1. Taking expectations under q:

```text
−KL(q ‖ p) = E_q[ln t] ≤ E_q[t − 1] = ∫_(q>0) p(x) dx − ∫ q(x) dx ≤ 1 − 1 = 0
```

so KL(q ‖ p) ≥ 0, and it is 0 only if t = 1 wherever q > 0 and p has no mass
elsewhere, that is, only if p = q. For your input KL(q ‖ p) = {_n(forward)}, {verdict}.
"""
    if not (q.is_diag and p.is_diag):
        return text
    # Per dimension it is the same inequality with t = r = σ₀²/σ₁².
    lv0, lv1 = q.log_variances, p.log_variances
    r = torch.exp(lv0 - lv1)
    gap = exp_m1_m(lv0 - lv1)  # r − 1 − ln r, accurate near r = 1
    shift = (q.mean - p.mean) ** 2 * torch.exp(-lv1)
    if _is_standard(p):
        t, d2, where = "σᵢ²", "μᵢ²", ""
    else:
        t, d2 = "rᵢ", "dᵢ²"
        where = " with rᵢ = σ₀ᵢ²/σ₁ᵢ² and dᵢ = (μ₀ᵢ − μ₁ᵢ)/σ₁ᵢ"
    rows = [f"| {i + 1} | {_n(float(r[i]))} | {_n(float(gap[i]))} | {_n(float(shift[i]))} | "
            f"{_n(0.5 * float(gap[i] + shift[i]))} |" for i in range(min(q.dim, MAX_ROWS))]
    if q.dim > MAX_ROWS:
        rows.append(f"| … | | | | ({q.dim - MAX_ROWS} more) |")
    return text + f"""
Each dimension contributes ½ ({t} − 1 − ln {t} + {d2}){where}. With t = {t} the
same inequality gives {t} − 1 − ln {t} ≥ 0, zero only when the variances match,
and {d2} is a square, so every term is ≥ 0:

| i | {t} | {t} − 1 − ln {t} | {d2} | term |
|---|---:|---:|---:|---:|
""" + "\n".join(rows) + "\n"


def _part_not_metric(q: Gaussian, p: Gaussian, forward: float, backward: float) -> str:
    _, _, classic = asymmetry_example()
    tri = triangle_example()
    if math.isclose(forward, backward, rel_tol=1e-9, abs_tol=1e-12):
        mine = ("The two directions agree here because q and p share one covariance Σ:\n"
                "then both equal ½ ΔμᵀΣ⁻¹Δμ. Change a σ and they part.")
    else:
        mine = f"They differ by {_n(abs(forward - backward))}."
    text = f"""## 2. KL is not a metric

A distance must be symmetric and obey the triangle inequality. KL does neither.

**Not symmetric.** For your input:

```text
KL(q ‖ p) = {_n(forward)}
KL(p ‖ q) = {_n(backward)}
```

{mine} The textbook pair is N(0, 4), variance 4 (σ = 2), against N(0, 1):

```text
KL(N(0, 4) ‖ N(0, 1)) = ½ (4 − 1 − ln 4)   = {_n(classic.forward)}
KL(N(0, 1) ‖ N(0, 4)) = ½ (1/4 − 1 + ln 4) = {_n(classic.backward)}
```

**No triangle inequality.** Take P = N(0, 1), Q = N(1, 1), R = N(2, 1). With
equal variances KL(N(a, 1) ‖ N(b, 1)) = ½ (a − b)², so

```text
KL(P ‖ R)             = ½ · 2²          = {_n(tri.pr)}
KL(P ‖ Q) + KL(Q ‖ R) = ½ · 1² + ½ · 1² = {_n(tri.pq)} + {_n(tri.qr)} = {_n(tri.pq + tri.qr)}
```

and {_n(tri.pr)} > {_n(tri.pq + tri.qr)}: going straight costs more than the detour. KL behaves
like a squared length, and squares do not add along a path: (a + b)² > a² + b².
"""
    if forward == 0:
        return text
    mid = triangle_through_midpoint(q, p)
    verdict = ">" if mid.violated else "≤"
    text += f"""
With your input, let m be the Gaussian halfway between q and p (the average of
their means and of their covariances):

```text
KL(q ‖ p) = {_n(mid.pr)}  {verdict}  KL(q ‖ m) + KL(m ‖ p) = {_n(mid.pq)} + {_n(mid.qr)} = {_n(mid.pq + mid.qr)}
```
"""
    if not mid.violated:
        text += "\nHere the midpoint happens not to break the inequality; the example above does.\n"
    return text


def _part_closed_form(q: Gaussian, p: Gaussian, forward: float) -> str:
    trace, quad, logdet1, logdet0 = (float(x) for x in kl_parts(q, p))
    k = q.dim
    text = f"""## 3. The closed form for two Gaussians

For q = N(μ₀, Σ₀) and p = N(μ₁, Σ₁) in k dimensions,

```text
ln q(x) − ln p(x) = ½ [ln det Σ₁ − ln det Σ₀
                       − (x − μ₀)ᵀ Σ₀⁻¹ (x − μ₀) + (x − μ₁)ᵀ Σ₁⁻¹ (x − μ₁)]
```

Under x ~ q, E[(x − a)ᵀ A (x − a)] = tr(A Σ₀) + (μ₀ − a)ᵀ A (μ₀ − a), so the two
quadratic forms average to tr(Σ₀⁻¹ Σ₀) = k and tr(Σ₁⁻¹ Σ₀) + (μ₁ − μ₀)ᵀ Σ₁⁻¹ (μ₁ − μ₀):

```text
KL(q ‖ p) = ½ [tr(Σ₁⁻¹ Σ₀) + (μ₁ − μ₀)ᵀ Σ₁⁻¹ (μ₁ − μ₀) − k
               + ln det Σ₁ − ln det Σ₀]
```

With your q = {describe(q)} and p = {describe(p)}:

```text
tr(Σ₁⁻¹ Σ₀) = {_n(trace)}
(μ₁ − μ₀)ᵀ Σ₁⁻¹ (μ₁ − μ₀) = {_n(quad)}
k = {k}
ln det Σ₁ − ln det Σ₀ = {_n(logdet1)} − {_n(logdet0)} = {_n(logdet1 - logdet0)}
KL(q ‖ p) = ½ [{_n(trace)} + {_n(quad)} − {k} {_signed(logdet1 - logdet0)}] = {_n(forward)}
```

Against p = N(0, I) with Σ₀ = diag(σ²): Σ₁ = I and μ₁ = 0, so the trace is
Σᵢ σᵢ², the quadratic form is Σᵢ μᵢ², ln det I = 0, ln det Σ₀ = Σᵢ ln σᵢ², and
k = Σᵢ 1. Everything splits by dimension:

```text
KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σᵢ (σᵢ² + μᵢ² − 1 − ln σᵢ²)
```
"""
    if q.is_diag and _is_standard(p):
        var, mu, lv = q.cov.tolist(), q.mean.tolist(), q.log_variances.tolist()
        n = min(k, MAX_ROWS)
        pieces = " + ".join(f"({_g(var[i])} + {_g(mu[i] ** 2)} − 1 − {_n(lv[i])})" for i in range(n))
        more = " + …" if k > MAX_ROWS else ""
        text += f"""
For your input:

```text
½ [{pieces}{more}] = {_n(forward)}
```
"""
    text += """
This is the KL term of the VAE loss. The encoder outputs ln σ², and aekl evaluates
σ² − 1 − ln σ² as eˣ − 1 − x with x = ln σ², which stays accurate near σ = 1 where
the naive difference loses every digit.
"""
    return text


def explain_markdown(q: Gaussian, p: Gaussian) -> str:
    """The three derivations for KL(q ‖ p), with this q and p as the worked example."""
    ab = asymmetry(q, p)
    head = f"""# KL(q ‖ p): three facts with your numbers

q = {describe(q)}, p = {describe(p)}, k = {q.dim}.

"""
    return (head + _part_nonnegative(q, p, ab.forward) + "\n"
            + _part_not_metric(q, p, ab.forward, ab.backward) + "\n"
            + _part_closed_form(q, p, ab.forward))
