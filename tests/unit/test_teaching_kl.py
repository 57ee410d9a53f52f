"""The numbers aekl teaches with, against references written here from the
formulas: scipy's adaptive quadrature (with limits and break points chosen in
the test), mpmath at 50 digits, scipy's optimiser."""

from __future__ import annotations

import itertools
import json
import math
import re

import mpmath
import numpy as np
import pytest
from scipy import integrate
from scipy.special import logsumexp
from typer.testing import CliRunner

from core.cli import app
from core.errors import BadInput
from core.gauss.demo import Mixture, run_demo
from core.gauss.density import picture
from core.gauss.divergences import divergences, normal_against_cauchy
from core.gauss.explain import explain_markdown
from core.gauss.kl import Gaussian
from core.gauss.parse import build_problem

runner = CliRunner()
LN2PI = math.log(2 * math.pi)


def ref_log_mixture(x, w, m, s):
    z = (x - np.asarray(m)) / np.asarray(s)
    return float(logsumexp(np.log(w) - 0.5 * z * z - np.log(s) - 0.5 * LN2PI))


def ref_log_normal(x, m, s):
    return -0.5 * ((x - m) / s) ** 2 - math.log(s) - 0.5 * LN2PI


def ref_quad(f, lo, hi, points):
    inside = sorted(p for p in points if lo < p < hi)
    value, _ = integrate.quad(f, lo, hi, points=inside or None, epsabs=1e-14, epsrel=1e-13, limit=1000)
    return value


def ref_kl_q_p(m, s, w, means, spreads):
    f = lambda x: math.exp(ref_log_normal(x, m, s)) * (ref_log_normal(x, m, s) - ref_log_mixture(x, w, means, spreads))
    return ref_quad(f, m - 38 * s, m + 38 * s, list(means) + [m])


def ref_kl_p_q(w, means, spreads, m, s):
    total = 0.0
    for wk, mk, sk in zip(w, means, spreads):
        f = lambda x: math.exp(ref_log_normal(x, mk, sk)) * (ref_log_mixture(x, w, means, spreads)
                                                              - ref_log_normal(x, m, s))
        total += wk * ref_quad(f, mk - 38 * sk, mk + 38 * sk, list(means))
    return total


MIXTURES = [((0.5, 0.5), (-2.0, 2.0), (0.6, 0.6)), ((0.3, 0.7), (-2.0, 2.0), (0.6, 1.5)),
            ((0.2, 0.3, 0.5), (-5.0, 0.0, 4.0), (0.3, 1.0, 0.5))]


@pytest.mark.parametrize("w, means, spreads", [MIXTURES[0], *(pytest.param(*m, marks=pytest.mark.slow)
                                                             for m in MIXTURES[1:])])  # a second of quad each
def test_both_kls_of_both_fits_match_scipy_quad_to_1e8(w, means, spreads):
    demo = run_demo(Mixture.of(list(w), list(means), list(spreads)))
    mean = sum(a * b for a, b in zip(w, means))
    var = sum(a * (s * s + (b - mean) ** 2) for a, b, s in zip(w, means, spreads))
    assert demo.moments == pytest.approx((mean, math.sqrt(var)), rel=1e-14)
    for key, (m, s) in (("mode", demo.mode), ("moments", demo.moments)):
        assert demo.table[key]["KL(q‖p)"] == pytest.approx(ref_kl_q_p(m, s, w, means, spreads), rel=1e-8)
        assert demo.table[key]["KL(p‖q)"] == pytest.approx(ref_kl_p_q(w, means, spreads, m, s), rel=1e-8)


@pytest.mark.slow  # seconds of numerical search per mixture
@pytest.mark.parametrize("w, means, spreads", MIXTURES[:2])
def test_every_mode_seeking_fit_is_a_local_minimum_of_the_true_objective(w, means, spreads):
    demo = run_demo(Mixture.of(list(w), list(means), list(spreads)))
    objective = lambda th: ref_kl_q_p(th[0], math.exp(th[1]), w, means, spreads)
    for o in demo.optima:
        theta, h = np.array([o.m, math.log(o.s)]), 1e-4
        grad = [(objective(theta + h * e) - objective(theta - h * e)) / (2 * h) for e in np.eye(2)]
        assert np.abs(grad).max() < 1e-6, (o, grad)
        # and the Hessian (second differences, h = 1e-3) is positive definite: a minimum
        h2 = 1e-3
        f0 = objective(theta)
        hess = np.empty((2, 2))
        for i, j in itertools.product(range(2), range(2)):
            ei, ej = h2 * np.eye(2)[i], h2 * np.eye(2)[j]
            hess[i, j] = (objective(theta + ei + ej) - objective(theta + ei - ej) - objective(theta - ei + ej)
                          + objective(theta - ei - ej)) / (4 * h2 * h2) if i != j else \
                (objective(theta + ei) - 2 * f0 + objective(theta - ei)) / (h2 * h2)
        assert np.linalg.eigvalsh(0.5 * (hess + hess.T)).min() > 0, hess
        assert o.kl_qp == pytest.approx(f0, rel=1e-8)
    # the smallest, or one tied with it to 10 digits (a tie lists the first component's search first)
    assert demo.table["mode"]["KL(q‖p)"] == pytest.approx(min(o.kl_qp for o in demo.optima), rel=1e-10)
    assert sorted(k for o in demo.optima for k in o.starts) == list(range(len(means)))  # every start accounted for
    if len(demo.optima) == 1:
        result = runner.invoke(app, ["kl-demo", "--weights", ",".join(map(str, w)), "--means",
                                     ",".join(map(str, means)), "--spreads", ",".join(map(str, spreads))])
        assert "components 1, 2" in result.output and "does not depend on where it starts" in " ".join(
            result.output.split())


def test_the_default_demo_prints_the_true_values_and_both_local_minima():
    result = runner.invoke(app, ["kl-demo"], env={"COLUMNS": "140"})
    assert result.exit_code == 0, result.output
    w, means, spreads = (0.5, 0.5), (-2.0, 2.0), (0.6, 0.6)
    var = 0.36 + 4.0
    truth = ref_kl_q_p(0.0, math.sqrt(var), w, means, spreads)
    assert f"{truth:.6g}" == "1.27324" and "1.27324" in result.output
    rows = [ln for ln in result.output.splitlines() if "component" in ln and "│" in ln]
    assert len(rows) == 2 and "-1.99708" in rows[0] and "1.99708" in rows[1]
    assert "depends on where the fit starts" in " ".join(result.output.split())
    data = json.loads(runner.invoke(app, ["kl-demo", "--json"]).output)
    assert data["moment_matching"]["KL(q‖p)"] == pytest.approx(truth, rel=1e-9)
    assert [o["start_component"] for o in data["mode_seeking_optima"]] == [1, 2]


@pytest.mark.parametrize("mu, s0, mu1, s1", [(5.0, 0.001, 0.0, 10.0), (0.0, 0.001, 0.0, 1.0), (0.5, 3.0, -1.0, 0.2),
                                             (1e10, 1e-10, 0.0, 1.0), (0.0, 1e-150, 0.0, 1e150)])
def test_plot_area_equals_the_term_for_narrow_and_wide_q(mu, s0, mu1, s1):
    term = math.log(s1) - math.log(s0) + ((s0 / s1) ** 2 + ((mu - mu1) / s1) ** 2) / 2 - 0.5
    pic = picture(Gaussian.diag([mu], sigma=[s0]), Gaussian.diag([mu1], sigma=[s1]))
    assert pic.area == pytest.approx(term, rel=1e-9) and pic.term == pytest.approx(term, rel=1e-12)
    if s0 * 1e6 > abs(mu):  # the grid resolves q (float64 can place points 1e-6 σ apart)
        assert pic.q.max() == pytest.approx(1 / (s0 * math.sqrt(2 * math.pi)), rel=1e-3)
    result = runner.invoke(app, ["kl", "--mu", str(mu), "--sigma", str(s0), "--mu1", str(mu1), "--sigma1", str(s1),
                                 "--dim", "1", "--samples", "0"])
    assert f"area under q ln(q/p) = {term:.6g} ≈ term {term:.6g}" in result.output


def test_explain_never_prints_nan_and_gets_the_value_right_from_1e_300_to_1e300():
    mpmath.mp.dps = 60
    values = ["1e-300", "1e-150", "1e-5", "1", "1e5", "1e150", "1e300"]
    checked = 0
    for mu, s0, s1 in itertools.product(["0", *values], values, values):
        try:
            pr = build_problem(mu=mu, sigma=s0, sigma1=s1)
        except BadInput:
            continue  # σ² is not a float64 there: refused with a one-line error
        m, a, b = mpmath.mpf(mu), mpmath.mpf(s0), mpmath.mpf(s1)
        forward = mpmath.log(b / a) + (a / b) ** 2 / 2 + (m / b) ** 2 / 2 - mpmath.mpf(1) / 2
        backward = mpmath.log(a / b) + (b / a) ** 2 / 2 + (m / a) ** 2 / 2 - mpmath.mpf(1) / 2
        md = explain_markdown(pr.q, pr.p)
        assert not re.search(r"\bnan\b|\binf\b", md), (mu, s0, s1)
        if forward < 1e300:
            shown = f"{float(forward):.6g}".replace("-", "−").replace("e−", "e-")
            assert f"KL(N0 ‖ N1) = {shown}" in md, (mu, s0, s1, shown)
            if backward < 1e300:
                assert "overflow" not in md, (mu, s0, s1)
        checked += 1
    assert checked > 150


def test_tiny_equal_gaussians_explain_zero_not_nan():
    result = runner.invoke(app, ["kl", "--mu", "0", "--sigma", "1e-160", "--sigma1", "1e-160", "--explain",
                                 "--samples", "0"])
    assert result.exit_code == 0 and not re.search(r"\bnan\b", result.output)
    assert re.search(r"\(μ1 − μ0\)ᵀ Σ1⁻¹ \(μ1 − μ0\) = 0\b", result.output)


def test_symmetry_condition_is_stated_correctly():
    pr = build_problem(mu="0,0", sigma="2,1", sigma1="1,2")
    md = explain_markdown(pr.q, pr.p)
    # ½ (4 − 1 − ln 4) + ½ (¼ − 1 + ln 4) = 1.125, and the same with the roles exchanged
    assert 0.5 * (4 - 1 - math.log(4)) + 0.5 * (0.25 - 1 + math.log(4)) == pytest.approx(1.125)
    assert "KL(N0 ‖ N1) = 1.125\nKL(N1 ‖ N0) = 1.125" in md
    assert "coordinates 1 and 2 swapped" in md and "coincidence" not in md
    assert "holds only for equal covariances" not in md and "equal covariances suffice" in md
    assert "for d = 1, equal variances are necessary too" in md.replace("\n", " ")
    assert "almost everywhere" in md and "Necessary, not sufficient" in md


def test_cauchy_example_value():
    expected, _ = integrate.quad(lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi) * math.log1p(x * x),
                                 -np.inf, np.inf, epsabs=1e-14)
    value = math.log(math.pi) - 0.5 * LN2PI - 0.5 + expected
    assert normal_against_cauchy() == pytest.approx(value, rel=1e-10)
    pr = build_problem(mu="0.5")
    assert f"KL(N(0, 1) ‖ C) = ln π − ½ ln 2π − ½ + E[ln(1 + x²)] = {value:.6g}" in explain_markdown(pr.q, pr.p)


def test_jeffreys_js_tv_and_pinsker_in_one_dimension():
    m0, s0, m1, s1 = 0.5, 1.0, 0.0, 2.0
    pr = build_problem(mu=str(m0), sigma=str(s0), mu1=str(m1), sigma1=str(s1))
    d = divergences(pr.q, pr.p)
    kl01 = math.log(s1 / s0) + (s0 ** 2 + (m0 - m1) ** 2) / (2 * s1 ** 2) - 0.5
    kl10 = math.log(s0 / s1) + (s1 ** 2 + (m0 - m1) ** 2) / (2 * s0 ** 2) - 0.5
    jeff = 0.5 * (s0 ** 2 / s1 ** 2 + s1 ** 2 / s0 ** 2 - 2 + (m1 - m0) ** 2 * (1 / s0 ** 2 + 1 / s1 ** 2))
    assert jeff == pytest.approx(kl01 + kl10, rel=1e-12) and d.jeffreys == pytest.approx(jeff, rel=1e-12)
    lp = lambda x: ref_log_normal(x, m0, s0)
    lq = lambda x: ref_log_normal(x, m1, s1)
    lm = lambda x: float(np.logaddexp(lp(x), lq(x))) - math.log(2)
    js = 0.5 * ref_quad(lambda x: math.exp(lp(x)) * (lp(x) - lm(x)), -40, 40, [m0, m1]) \
        + 0.5 * ref_quad(lambda x: math.exp(lq(x)) * (lq(x) - lm(x)), -80, 80, [m0, m1])
    # the densities cross where ln p = ln q: a quadratic, solved here
    a, b = 0.5 / s1 ** 2 - 0.5 / s0 ** 2, m0 / s0 ** 2 - m1 / s1 ** 2
    c = 0.5 * m1 ** 2 / s1 ** 2 - 0.5 * m0 ** 2 / s0 ** 2 + math.log(s1 / s0)
    roots = sorted(np.roots([a, b, c]).real)
    tv = 0.5 * ref_quad(lambda x: abs(math.exp(lp(x)) - math.exp(lq(x))), -80, 80, roots)
    assert d.js.value == pytest.approx(js, rel=1e-9) and d.tv.value == pytest.approx(tv, rel=1e-9)
    assert tv <= math.sqrt(min(kl01, kl10) / 2) == pytest.approx(d.pinsker, rel=1e-12)
    md = explain_markdown(pr.q, pr.p)
    assert f"JS(N0, N1)  = {js:.6g}" in md and f"√JS(N0, N1) = {math.sqrt(js):.6g}" in md
    assert f"TV(N0, N1)           = {tv:.6g}" in md and f"J(N0, N1) = {kl01:.6g} + {kl10:.6g} = {jeff:.6g}" in md


def test_js_monte_carlo_in_two_dimensions_is_within_its_error():
    q, p = Gaussian.diag([0.5, 1.0], sigma=[1.0, 2.0]), Gaussian.standard(2)
    d = divergences(q, p)
    # reference: the same JS by 2-D quadrature on a grid fine enough for 1e-6
    x = np.linspace(-14, 14, 1401)
    X, Y = np.meshgrid(x, x, indexing="ij")
    lq = -0.5 * ((X - 0.5) ** 2 + ((Y - 1.0) / 2) ** 2) - math.log(2) - LN2PI
    lp = -0.5 * (X ** 2 + Y ** 2) - LN2PI
    lm = np.logaddexp(lq, lp) - math.log(2)
    dx = x[1] - x[0]
    js = 0.5 * float(np.sum(np.exp(lq) * (lq - lm) + np.exp(lp) * (lp - lm))) * dx * dx
    assert d.js.samples == 20_000 and 0 < d.js.stderr < 0.01
    assert abs(d.js.value - js) < 4 * d.js.stderr
    md = explain_markdown(q, p)
    assert f"± {d.js.stderr:.2g}   (Monte Carlo: 20,000 draws from each" in md


def test_elbo_and_mutual_information_derivations_are_there():
    pr = build_problem(mu="0.5,1", sigma="1,2")
    md = explain_markdown(pr.q, pr.p)
    for words in ("ln p(x) = ELBO + KL(q(z|x) ‖ p(z|x))", "= ELBO(x)                     + KL(q(z|x) ‖ p(z|x))",
                  "= I_q(x; z)                       + KL(q(z) ‖ p(z))", "upper bound on the",
                  f"ln 10,000 = {math.log(10000):.6g} nats"):
        assert words in md, words
    kl_value = 0.5 * (0.25 + 1 - 1 - 0) + 0.5 * (4 + 1 - 1 - math.log(4))
    assert f"KL(q(z|x) ‖ p(z)) = {kl_value:.6g} nats" in md


def test_exp_m1_m_is_within_16_ulps_as_documented():
    from core.gauss.kl import exp_m1_m

    mpmath.mp.dps = 50
    rng = np.random.default_rng(0)
    xs = np.concatenate([rng.uniform(-1, 1, 800) * 10.0 ** rng.uniform(-12, 0, 800), rng.uniform(-0.2, 0.2, 800),
                         rng.uniform(-700, 700, 400)])
    worst = 0.0
    for x in xs:
        exact = mpmath.exp(mpmath.mpf(x)) - 1 - mpmath.mpf(x)
        worst = max(worst, float(abs(mpmath.mpf(float(exp_m1_m(np.float64(x)))) - exact)
                                 / np.spacing(abs(float(exact)))))
    assert 1 < worst < 16


def test_json_with_explain_carries_the_divergences():
    result = runner.invoke(app, ["kl", "--mu", "0.5", "--sigma", "1", "--sigma1", "2", "--explain", "--json",
                                 "--samples", "0"])
    d = json.loads(result.output)["divergences"]
    kl01 = math.log(2) + 1.25 / 8 - 0.5
    kl10 = -math.log(2) + 4.25 / 2 - 0.5
    assert d["jeffreys"] == pytest.approx(kl01 + kl10, rel=1e-12)
    assert d["pinsker_bound"] == pytest.approx(math.sqrt(min(kl01, kl10) / 2), rel=1e-12)
    assert d["js_distance"] == pytest.approx(math.sqrt(d["js"]), rel=1e-12) and d["js_samples"] == 0
    assert 0 < d["tv"] <= d["pinsker_bound"] and 0 < d["js"] < math.log(2)


def test_a_bump_narrower_than_float64_can_resolve_is_refused():
    result = runner.invoke(app, ["kl-demo", "--means", "-1e50,1e50", "--spreads", "1e-50,1e50"])
    assert result.exit_code == 2 and "--spreads must each be at least 1e-9 times" in " ".join(result.output.split())


def test_jeffreys_breaks_the_triangle_with_the_fixed_numbers():
    pr = build_problem(mu="1", sigma="2")
    md = explain_markdown(pr.q, pr.p)
    # KL(N(a, 1) ‖ N(b, 1)) = ½ (a − b)², so J = (a − b)²: 4 against 1 + 1
    assert "J(P, R) = 4 > J(P, Q) + J(Q, R) = 1 + 1" in md


@pytest.mark.parametrize("spread", [1e-5, 1e-8])
def test_narrow_far_apart_bumps_fit_at_once_and_exactly(spread):
    # Two bumps far apart for their width: the reverse fit is one bump, so
    # KL(q ‖ p) = E_q[ln q − ln(½ q + ½ q')] = ln 2 (q' is nil where q lives).
    # Such inputs used to take minutes, the optimiser chasing rounding noise.
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "core.cli", "kl-demo", "--means", "-2,2", "--spreads",
                           f"{spread},{spread}", "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    fit = json.loads(done.stdout)["mode_seeking"]
    assert abs(abs(fit["mean"]) - 2.0) < 1e-9 and fit["sigma"] == pytest.approx(spread, rel=1e-6)
    assert fit["KL(q‖p)"] == pytest.approx(math.log(2), rel=1e-8)


@pytest.mark.parametrize("mu, sigma", [("1e100", "1e-100"), ("1e80", "1e-80"), ("1e100,1", "1e-100,1")])
def test_the_terminal_plot_draws_for_extreme_inputs(mu, sigma):
    # q is a spike far out: the picture holds points where q underflows to 0,
    # and q ln(q/p) must read 0 there (its limit), not nan, or plotext fails
    from core.gauss.density import picture
    from core.gauss.parse import parse_floats

    pic = picture(Gaussian.diag(parse_floats(mu, "mu"), sigma=parse_floats(sigma, "sigma")), Gaussian.standard(
        len(parse_floats(mu, "mu"))))
    assert np.isfinite(pic.integrand).all() and (pic.integrand[pic.q == 0] == 0).all()
    result = runner.invoke(app, ["kl", "--mu", mu, "--sigma", sigma, "--plot", "--samples", "0"])
    assert result.exit_code == 0, result.output
    term = 0.5 * (1e-200 + 1e200 - 1 - math.log(1e-200)) if mu.startswith("1e100") else None
    if term:
        assert f"= {term:.6g}" in result.output


@pytest.mark.parametrize("means", ["0", "0,0"])
def test_a_mixture_that_is_one_gaussian_is_fitted_exactly_and_no_kl_is_negative(means):
    k = len(means.split(","))
    data = json.loads(runner.invoke(app, ["kl-demo", "--weights", ",".join([str(1 / k)] * k), "--means", means,
                                          "--spreads", ",".join(["1"] * k), "--json"]).output)
    for fit in (data["mode_seeking"], data["moment_matching"]):
        assert fit["mean"] == pytest.approx(0.0, abs=1e-9) and fit["sigma"] == pytest.approx(1.0, rel=1e-9)
        assert 0.0 <= fit["KL(q‖p)"] < 1e-12 and 0.0 <= fit["KL(p‖q)"] < 1e-12  # p = q: zero, never below


def test_a_two_panel_terminal_picture_is_the_same_however_often_it_is_drawn():
    # plotext's clear_figure clears only the panel drawn last: each 2-D picture
    # used to nest its two panels inside the last one, finer each time, until
    # plotext's line drawing ran for minutes (seen after a few calls in one process)
    from core.gauss.density import picture, terminal

    two_d = picture(Gaussian.diag([0.5, 1.0], sigma=[1.0, 2.0]), Gaussian.standard(2))
    one_d = picture(Gaussian.diag([0.5], sigma=[1.0]), Gaussian.standard(1))
    first = terminal(two_d)
    for _ in range(4):
        assert terminal(one_d).count("ellipses") == 0  # a 1-D picture after it has no leftover panel
        assert terminal(two_d) == first
    assert first.count("1σ and 2σ ellipses") == 1
