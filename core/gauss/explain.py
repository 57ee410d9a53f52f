"""The derivations behind `aekl kl --explain`, as Markdown, in the exercise's
notation: N0 = N(μ0, Σ0) (the q of the table), N1 = N(μ1, Σ1) (the p),
d dimensions indexed by j.

(i) KL ≥ 0, with equality only for N0 = N1; (ii) which metric axioms hold
and which fail; (iii) the closed form and its reduction against N(0, I).
Every statement about the user's numbers is decided from the inputs (equal
means, equal covariances), never guessed from the values, and every sum is
printed with enough digits to add up as printed (core.present.numbers.adding_up).

The text is a list of steps (`explain_steps`) so that the TUI can reveal
them one at a time. Plain text only (no rich): display maths sits in fenced
blocks so that _ and * are never taken as emphasis.
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np

from core.present.numbers import adding_up, prose, signed
from core.gauss.kl import (Gaussian, asymmetry, asymmetry_example, eigenvalues_ratio, exp_m1_m, kl, kl_parts,
                           swapped_coordinates, triangle_example, triangle_through_midpoint)

MAX_ROWS = 6  # per-dimension detail beyond this is elided


def _vec(values) -> str:
    values = list(values)
    shown = ", ".join(prose(v) for v in values[:MAX_ROWS])
    return f"({shown}{', …' if len(values) > MAX_ROWS else ''})"


def describe(g: Gaussian) -> str:
    if g.is_standard:
        return "N(0, I)" if g.dim > 1 else "N(0, 1)"
    if g.is_diag:
        return f"N(μ = {_vec(g.mean)}, σ = {_vec(np.exp(0.5 * g.log_variances))})"
    rows = ", ".join(_vec(r) for r in g.cov[:MAX_ROWS])
    return f"N(μ = {_vec(g.mean)}, Σ = [{rows}{', …' if g.dim > MAX_ROWS else ''}])"


def _differences(q: Gaussian, p: Gaussian) -> str:
    parts = []
    if not np.array_equal(q.mean, p.mean):
        parts.append("their means differ")
    if not q.same_covariance(p):
        parts.append("their covariances differ")
    return " and ".join(parts)


def _sum_line(parts: list[float], signs: list[int], result: float, half: bool = False) -> str:
    """'a + b − c = r' (or '½ [a + b − c] = r'), digits enough to add up as printed."""

    def combine(xs: list[Decimal]) -> Decimal:
        total = sum((s * x for s, x in zip(signs, xs)), Decimal(0))
        return total / 2 if half else total

    n, ok = adding_up(parts, combine, result)
    body = prose(parts[0] * signs[0], n) + "".join(
        f" {signed(s * x, n)}" for s, x in zip(signs[1:], parts[1:]))
    line = f"½ [{body}] = {prose(result, n)}" if half else f"{body} = {prose(result, n)}"
    return line + ("" if ok else "   (the printed parts cancel; the total is computed without the cancellation)")


# --- (i) -------------------------------------------------------------------


def _part_i(q: Gaussian, p: Gaussian, forward: float) -> list[str]:
    steps = ["""## (i) KL(N0 ‖ N1) ≥ 0, with equality only when N0 = N1

**Definition, and when it is finite.** KL(N0 ‖ N1) = ∫ N0(x) ln(N0(x) / N1(x)) dx.
It can be finite only if N0 is absolutely continuous with respect to N1 (N0 ≪ N1):
every set to which N1 gives probability 0 gets probability 0 from N0 too. Otherwise
ln(N0/N1) = +∞ on a set of positive N0-probability and KL(N0 ‖ N1) = ∞. A Gaussian
density is positive everywhere, so for two Gaussians the condition always holds.""",
             _cauchy_step(),
             """**Turn the fraction over.** Because ln(a/b) = −ln(b/a),

```text
−KL(N0 ‖ N1) = ∫ N0(x) ln(N1(x) / N0(x)) dx
```""",
             """**The inequality.** g(t) = t − 1 − ln t has g′(t) = 1 − 1/t, negative for t < 1 and
positive for t > 1, so its minimum is g(1) = 0. Hence ln t ≤ t − 1 for every t > 0,
with equality only at t = 1.""",
             """**Apply it with t = N1(x)/N0(x)** wherever N0(x) > 0:

```text
−KL(N0 ‖ N1) ≤ ∫ N0 (N1/N0 − 1) dx = ∫_(N0>0) N1 dx − ∫ N0 dx ≤ 1 − 1 = 0
```

The first integral is at most 1 because N1 is a density; the second is exactly 1.
So KL(N0 ‖ N1) ≥ 0.""",
             """**Equality.** KL = 0 needs equality in both places: t = 1 for N0-almost every x
(N1 = N0 there, up to a set of probability 0) and N1 has no mass where N0 = 0. So
KL(N0 ‖ N1) = 0 exactly when N0 = N1 almost everywhere, that is, as distributions;
and N0 = N1 gives ln 1 = 0, so then KL = 0. Gaussian densities are continuous, so
two that agree almost everywhere agree everywhere: same μ, same Σ."""]
    if q.same_as(p):
        verdict = "zero, because your N0 and N1 are the same Gaussian"
    elif forward == 0:
        verdict = (f"printed as 0, but {_differences(q, p)}, so the true value is positive: "
                   "it is below the smallest float64 number")
    else:
        verdict = f"positive, because {_differences(q, p)}"
    steps.append(f"**Your numbers.** KL(N0 ‖ N1) = {prose(forward)}: {verdict}.")
    if q.is_diag and p.is_diag:
        steps.append(_per_dimension(q, p))
    return steps


def _per_dimension(q: Gaussian, p: Gaussian) -> str:
    """For two diagonals the same inequality works one dimension at a time."""
    lv0, lv1 = q.log_variances, p.log_variances
    with np.errstate(over="ignore"):
        r = np.exp(lv0 - lv1)
        shift = ((q.mean - p.mean) * np.exp(-0.5 * lv1)) ** 2  # not Δ² e^−lv1: 0 · inf
    gap = exp_m1_m(lv0 - lv1)  # r − 1 − ln r, accurate near r = 1
    if p.is_standard:
        t, m2, where = "σ_j²", "μ_j²", ""
    else:
        t, m2 = "r_j", "m_j²"
        where = " with r_j = σ0_j²/σ1_j² and m_j = (μ0_j − μ1_j)/σ1_j"
    rows = [f"| {j + 1} | {prose(r[j])} | {prose(gap[j])} | {prose(shift[j])} | {prose(0.5 * (gap[j] + shift[j]))} |"
            for j in range(min(q.dim, MAX_ROWS))]
    if q.dim > MAX_ROWS:
        rows.append(f"| … | | | | ({q.dim - MAX_ROWS} more) |")
    return (f"**Dimension by dimension.** Each dimension j contributes ½ ({t} − 1 − ln {t} + {m2}){where}.\n"
            f"By the same inequality with t = {t}, {t} − 1 − ln {t} ≥ 0 (zero only when the variances match),\n"
            f"and {m2} is a square, so every term is ≥ 0:\n\n"
            f"| j | {t} | {t} − 1 − ln {t} | {m2} | term |\n|---|---:|---:|---:|---:|\n" + "\n".join(rows))


# --- (ii) ------------------------------------------------------------------


def _part_ii(q: Gaussian, p: Gaussian, forward: float, backward: float) -> list[str]:
    steps = ["""## (ii) KL is not a metric

A metric D must satisfy three axioms: (M1) D(P, Q) ≥ 0, with D(P, Q) = 0 exactly when
P = Q; (M2) symmetry, D(P, Q) = D(Q, P); (M3) the triangle inequality,
D(P, R) ≤ D(P, Q) + D(Q, R).""",
             """**M1 holds.** Non-negativity and identity are exactly what part (i) proved:
KL(N0 ‖ N1) ≥ 0, and it is 0 only when N0 = N1.""",
             """**M2: when the two directions agree.** If Σ0 = Σ1 = Σ, then tr(Σ⁻¹ Σ) = d and
ln(det Σ / det Σ) = 0, and part (iii)'s formula leaves

```text
KL(N0 ‖ N1) = ½ (μ1 − μ0)ᵀ Σ⁻¹ (μ1 − μ0) = KL(N1 ‖ N0)
```

which does not change when μ0 and μ1 swap: then √(2 KL) is the Mahalanobis
distance between the means. So equal covariances suffice.""",
             """**Are they necessary?** Let λ_j be the eigenvalues of Σ1⁻¹ Σ0 and Δ = μ1 − μ0. Then
tr(Σ1⁻¹ Σ0) = Σ_j λ_j, tr(Σ0⁻¹ Σ1) = Σ_j 1/λ_j and ln(det Σ1 / det Σ0) = −Σ_j ln λ_j, so
part (iii)'s formula, written both ways and subtracted, gives

```text
2 [KL(N0 ‖ N1) − KL(N1 ‖ N0)] = Σ_j (λ_j − 1/λ_j − 2 ln λ_j) + Δᵀ (Σ1⁻¹ − Σ0⁻¹) Δ
```

In one dimension, with λ = σ0²/σ1², the first part has derivative (1 − 1/λ)² ≥ 0 and is 0 at
λ = 1, so it has the sign of λ − 1; the second is (Δ²/σ1²)(1 − 1/λ), with the same sign.
The difference is 0 only at λ = 1: for d = 1, equal variances are necessary too. For d ≥ 2
they are not: eigenvalues in reciprocal pairs (λ, 1/λ) cancel in the first sum. A coordinate
swap is such a case: N(0, diag(4, 1)) against N(0, diag(1, 4)) gives 1.125 both ways,
because swapping the two coordinates maps each Gaussian onto the other and KL does not
change when both arguments are relabelled the same way."""]
    steps.append(_symmetry_with_your_numbers(q, p, forward, backward))
    steps.append(_triangle(q, p))
    steps.append("So KL satisfies M1 but, in general, neither M2 nor M3: it is a divergence, not a metric.")
    return steps


def _symmetry_with_your_numbers(q: Gaussian, p: Gaussian, forward: float, backward: float) -> str:
    both = f"```text\nKL(N0 ‖ N1) = {prose(forward)}\nKL(N1 ‖ N0) = {prose(backward)}\n```\n\n"
    head = "**M2 with your numbers.**\n\n" + both
    if q.same_as(p):
        return head + "Both are 0 because N0 = N1, which says nothing about symmetry. " + _fixed_asymmetry()
    if q.same_covariance(p):
        dist = math.sqrt(2 * forward) if math.isfinite(forward) else math.inf
        return (head + f"They are equal because your Σ0 = Σ1 (only the means differ), as shown above; "
                f"the Mahalanobis distance between the means is √(2 · {prose(forward)}) = {prose(dist)}. "
                + _fixed_asymmetry())
    if not (math.isfinite(forward) and math.isfinite(backward)):
        if math.isfinite(forward) or math.isfinite(backward):
            return head + "They differ: one direction is finite and the other beyond float64. " + _fixed_asymmetry()
        return head + "Both are beyond float64, so they cannot be compared here. " + _fixed_asymmetry()
    if prose(forward) != prose(backward):
        return head + ("They differ: your own input is a counterexample to M2 (Σ0 ≠ Σ1, so nothing forces "
                       "the directions to agree).")
    return head + _why_equal(q, p, forward, backward)


def _why_equal(q: Gaussian, p: Gaussian, forward: float, backward: float) -> str:
    """Σ0 ≠ Σ1 but the printed values agree: say whether exactly, and why."""
    pairs = swapped_coordinates(q, p)
    if pairs:
        which = ", ".join(f"{i + 1} and {j + 1}" for i, j in pairs)
        return (f"They are equal exactly although Σ0 ≠ Σ1: your N1 is your N0 with coordinates {which} "
                "swapped, and swapping them again maps N1 back onto N0. KL does not change when both "
                "Gaussians are relabelled the same way, so KL(N0 ‖ N1) = KL(N1 ‖ N0) (the eigenvalues of "
                "Σ1⁻¹ Σ0 come in reciprocal pairs, as above).\n\n")
    lam = np.sort(eigenvalues_ratio(q, p))
    if np.allclose(lam * lam[::-1], 1.0, rtol=1e-10, atol=0.0) and abs(forward - backward) <= 1e-12 * forward:
        return ("They are equal although Σ0 ≠ Σ1: the eigenvalues of Σ1⁻¹ Σ0, "
                f"{_vec(lam)}, come in reciprocal pairs, so the first sum above cancels, and the mean "
                "term Δᵀ (Σ1⁻¹ − Σ0⁻¹) Δ is 0 here. That is the d ≥ 2 case of the rule, not chance. "
                + _one_dimension(q, p))
    return (f"They agree to the digits shown although Σ0 ≠ Σ1: the difference is "
            f"{prose(forward - backward)}, too small for six digits. " + _fixed_asymmetry())


def _one_dimension(q: Gaussian, p: Gaussian) -> str:
    """One dimension whose variances differ shows the asymmetry (d = 1 needs equal variances)."""
    if q.is_diag and p.is_diag:
        j = int(np.flatnonzero(q.log_variances != p.log_variances)[0])
        qj = Gaussian.diag(q.mean[j:j + 1], logvar=q.log_variances[j:j + 1])
        pj = Gaussian.diag(p.mean[j:j + 1], logvar=p.log_variances[j:j + 1])
        one = asymmetry(qj, pj)
        return (f"Your dimension {j + 1} alone shows the asymmetry:\n\n```text\n"
                f"KL(N0_{j + 1} ‖ N1_{j + 1}) = {prose(one.forward)}\n"
                f"KL(N1_{j + 1} ‖ N0_{j + 1}) = {prose(one.backward)}\n```")
    return _fixed_asymmetry()


def _cauchy_step() -> str:
    from core.gauss.divergences import normal_against_cauchy

    value = normal_against_cauchy()
    return f"""**Necessary, not sufficient.** N0 ≪ N1 does not make KL finite. A standard Cauchy
C (density 1/(π (1 + x²))) and N(0, 1) are both positive everywhere, so each is ≪ the other, yet

```text
KL(C ‖ N(0, 1)) = E_C[ln C(x)] + ½ ln 2π + ½ E_C[x²] = ∞
```

because a Cauchy has no variance (E_C[x²] = ∞) while E_C[ln C] = −ln 4π is finite. The other
way round everything is finite: KL(N(0, 1) ‖ C) = ln π − ½ ln 2π − ½ + E[ln(1 + x²)] = {prose(value)}
(the expectation under N(0, 1) by quadrature). For two Gaussians every term is finite."""


def _fixed_asymmetry() -> str:
    _, _, pair = asymmetry_example()
    return (f"A pair that shows the asymmetry: N(0, 4) (σ = 2) against N(0, 1):\n\n```text\n"
            f"KL(N(0, 4) ‖ N(0, 1)) = ½ (4 − 1 − ln 4)   = {prose(pair.forward)}\n"
            f"KL(N(0, 1) ‖ N(0, 4)) = ½ (1/4 − 1 + ln 4) = {prose(pair.backward)}\n```")


def _triangle(q: Gaussian, p: Gaussian) -> str:
    head = "**M3 fails.** "
    if not q.same_as(p):
        mid = triangle_through_midpoint(q, p)
        if mid.violated:
            why = ("With equal covariances each leg is a quarter of the direct route, so the detour costs half. "
                   if q.same_covariance(p) else "")
            return (head + "With your numbers, let M be the Gaussian halfway between N0 and N1 (the average of "
                    "their means and of their covariances):\n\n```text\n"
                    f"KL(N0 ‖ N1)             = {prose(mid.pr)}\n"
                    f"KL(N0 ‖ M) + KL(M ‖ N1) = {_sum_line([mid.pq, mid.qr], [1, 1], mid.pq + mid.qr)}\n```\n\n"
                    f"and {prose(mid.pr)} > {prose(mid.pq + mid.qr)}: going straight costs more than the detour. "
                    + why)
        head += "The halfway Gaussian between your N0 and N1 does not break it, so take fixed numbers. "
    else:
        head += "Your N0 = N1 cannot show it, so take fixed numbers. "
    tri = triangle_example()
    return (head + "P = N(0, 1), Q = N(1, 1), R = N(2, 1). With equal variances "
            "KL(N(a, 1) ‖ N(b, 1)) = ½ (a − b)², so\n\n```text\n"
            f"KL(P ‖ R)             = ½ · 2²          = {prose(tri.pr)}\n"
            f"KL(P ‖ Q) + KL(Q ‖ R) = ½ · 1² + ½ · 1² = {_sum_line([tri.pq, tri.qr], [1, 1], tri.pq + tri.qr)}\n"
            f"```\n\nand {prose(tri.pr)} > {prose(tri.pq + tri.qr)}. KL behaves like a squared length, and "
            "squares do not add along a path: (a + b)² > a² + b².")


# --- (iii) -----------------------------------------------------------------


def _part_iii(q: Gaussian, p: Gaussian, forward: float) -> list[str]:
    d = q.dim
    steps = ["""## (iii) The closed form for two Gaussians

**Log-densities.** In d dimensions, ln N(x; μ, Σ) = −½ [d ln 2π + ln det Σ + (x − μ)ᵀ Σ⁻¹ (x − μ)].
Subtracting, the d ln 2π terms cancel:

```text
ln N0(x) − ln N1(x) = ½ ln(det Σ1 / det Σ0)
                      − ½ (x − μ0)ᵀ Σ0⁻¹ (x − μ0) + ½ (x − μ1)ᵀ Σ1⁻¹ (x − μ1)
```

KL(N0 ‖ N1) is the expectation of this under x ~ N0.""",
             """**The trace trick.** A number equals its own trace, and tr(AB) = tr(BA), so
(x − μ)ᵀ A (x − μ) = tr(A (x − μ)(x − μ)ᵀ). Expectation is linear and passes
through the trace, and E[(x − μ0)(x − μ0)ᵀ] = Σ0 under N0:

```text
E[(x − μ0)ᵀ Σ0⁻¹ (x − μ0)] = tr(Σ0⁻¹ Σ0) = tr(I_d) = d
```""",
             """**The other quadratic form.** Write x − μ1 = (x − μ0) + (μ0 − μ1) and expand; the cross
terms vanish because E[x − μ0] = 0:

```text
E[(x − μ1)ᵀ Σ1⁻¹ (x − μ1)] = tr(Σ1⁻¹ Σ0) + (μ1 − μ0)ᵀ Σ1⁻¹ (μ1 − μ0)
```""",
             """**Together:**

```text
KL(N0 ‖ N1) = ½ [tr(Σ1⁻¹ Σ0) + (μ1 − μ0)ᵀ Σ1⁻¹ (μ1 − μ0) − d + ln(det Σ1 / det Σ0)]
```"""]
    parts = kl_parts(q, p)
    steps.append(f"""**With your numbers,** N0 = {describe(q)} and N1 = {describe(p)}, d = {d}:

```text
tr(Σ1⁻¹ Σ0)               = {prose(parts.trace)}
(μ1 − μ0)ᵀ Σ1⁻¹ (μ1 − μ0) = {prose(parts.quad)}
ln(det Σ1 / det Σ0)       = {prose(parts.log_det_ratio)}
KL(N0 ‖ N1) = {_sum_line([parts.trace, parts.quad, float(d), parts.log_det_ratio], [1, 1, -1, 1], forward, half=True)}
```""")
    steps.append("""**Against N1 = N(0, I) with Σ0 = diag(σ_1², …, σ_d²).** Then Σ1⁻¹ = I and μ1 = 0, so
tr(Σ1⁻¹ Σ0) = tr(Σ0) = Σ_j σ_j² and (μ1 − μ0)ᵀ(μ1 − μ0) = Σ_j μ_j². The determinant of a
diagonal matrix is the product of its diagonal entries, so det Σ0 = Π_j σ_j², det I = 1 and
ln(det Σ1 / det Σ0) = −Σ_j ln σ_j². Finally −d = −Σ_j 1, so every piece is a sum over j:

```text
KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σ_j (σ_j² + μ_j² − 1 − ln σ_j²)
```""")
    if q.is_diag and p.is_standard:
        steps.append(_reduction_with_your_numbers(q, forward))
    steps.append("""This is the KL term of the VAE loss. The encoder outputs ln σ², and aekl evaluates
σ² − 1 − ln σ² as eˣ − 1 − x with x = ln σ², which stays accurate near σ = 1 where the
naive difference loses every digit.""")
    return steps


def _reduction_with_your_numbers(q: Gaussian, forward: float) -> str:
    d, n = q.dim, min(q.dim, MAX_ROWS)
    var, mu, lv = q.cov, q.mean, q.log_variances
    if d > n:
        pieces = " + ".join(f"({prose(var[j])} + {prose(mu[j] ** 2)} − 1 {signed(-lv[j])})" for j in range(n))
        return (f"**With your numbers** (the first {n} of {d} dimensions):\n\n```text\n"
                f"½ [{pieces} + …] = {prose(forward)}\n```")
    flat, signs = [], []
    for j in range(d):
        flat += [float(var[j]), float(mu[j] ** 2), 1.0, float(lv[j])]
        signs += [1, 1, -1, -1]

    def combine(xs: list[Decimal]) -> Decimal:
        return sum((s * x for s, x in zip(signs, xs)), Decimal(0)) / 2

    digits, ok = adding_up(flat, combine, forward)
    pieces = " + ".join(f"({prose(var[j], digits)} + {prose(mu[j] ** 2, digits)} − 1 {signed(-lv[j], digits)})"
                        for j in range(d))
    note = "" if ok else "\n\n(The printed pieces cancel; the total is computed as eˣ − 1 − x without the cancellation.)"
    return f"**With your numbers:**\n\n```text\n½ [{pieces}] = {prose(forward, digits)}\n```{note}"


def explain_steps(q: Gaussian, p: Gaussian) -> list[str]:
    """The derivations as Markdown steps, in order (each part starts with its heading):
    (i)–(iii) here, (iv)–(vi) from core.gauss.explain_more."""
    from core.gauss.explain_more import divergence_steps, elbo_steps

    with np.errstate(over="ignore", invalid="ignore"):  # overflow is printed as "overflow", not warned
        return _steps(q, p)


def _steps(q: Gaussian, p: Gaussian) -> list[str]:
    from core.gauss.explain_more import divergence_steps, elbo_steps

    forward, backward = kl(q, p), kl(p, q)
    head = (f"# KL(N0 ‖ N1) with your numbers\n\nN0 = {describe(q)} (q), N1 = {describe(p)} (p), d = {q.dim}.")
    return [head, *_part_i(q, p, forward), *_part_ii(q, p, forward, backward), *_part_iii(q, p, forward),
            *divergence_steps(q, p, forward, backward), *elbo_steps(q, p, forward)]


def explain_markdown(q: Gaussian, p: Gaussian) -> str:
    """The three derivations for KL(q ‖ p), with this q and p as the worked example."""
    return "\n\n".join(explain_steps(q, p)) + "\n"
