"""core.gauss.kl, core.gauss.parse, core.gauss.explain, core.present.numbers, core.gauss.density, core.gauss.demo:
values, accuracy, shapes, errors."""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal, getcontext

import numpy as np
import pytest
import torch
from torch.distributions import MultivariateNormal, kl_divergence

from core.errors import BadInput
from core.gauss.explain import explain_markdown
from core.present.numbers import adding_up, num, prose
from core.gauss.demo import Mixture, run_demo
from core.gauss.density import picture
from core.gauss.kl import (Gaussian, asymmetry_example, check_covariance, check_samples, chunk_size, exp_m1_m, kl,
                     kl_diag_standard, kl_diag_terms, kl_gaussians, kl_monte_carlo, triangle_example,
                     triangle_through_midpoint)
from core.gauss.parse import InputsDisagree, build_problem, report_for, json_depth, load_matrix, parse_floats

getcontext().prec = 60


def exact_em1m(x: float) -> float:
    """e^x − 1 − x with 60 significant digits, independent of torch."""
    d = Decimal(x)
    return float(d.exp() - 1 - d)


def random_spd(k: int, gen: torch.Generator) -> torch.Tensor:
    a = torch.randn(k, k, generator=gen, dtype=torch.float64)
    s = a @ a.T + 0.5 * torch.eye(k, dtype=torch.float64)
    return 0.5 * (s + s.T)


# --- hand-computed values ------------------------------------------------


def test_unit_shift_is_one_half():
    assert kl_diag_standard([1.0], sigma=[1.0]).total.item() == pytest.approx(0.5, abs=1e-15)
    assert kl_gaussians([1.0], [[1.0]], [0.0], [[1.0]]) == pytest.approx(0.5, abs=1e-15)


def test_asymmetry_pair():
    q, p, pair = asymmetry_example()
    assert q.cov[0] == 4.0  # variance 4, i.e. sigma 2
    assert round(pair.forward, 4) == 0.8069
    assert round(pair.backward, 4) == 0.3181
    assert pair.forward == pytest.approx(0.5 * (3 - math.log(4)), rel=1e-14)
    assert pair.backward == pytest.approx(0.5 * (0.25 - 1 + math.log(4)), rel=1e-14)


def test_triangle_counterexample():
    t = triangle_example()
    assert (t.pr, t.pq, t.qr) == pytest.approx((2.0, 0.5, 0.5), abs=1e-15)
    assert t.violated


def test_midpoint_halves_the_route_with_equal_covariances():
    P = Gaussian.full([0.0, 0.0], [[2.0, 0.3], [0.3, 1.0]])
    R = Gaussian.full([1.0, -2.0], [[2.0, 0.3], [0.3, 1.0]])
    t = triangle_through_midpoint(P, R)
    assert t.pq == pytest.approx(t.pr / 4, rel=1e-12)
    assert t.qr == pytest.approx(t.pr / 4, rel=1e-12)
    assert t.violated


def test_per_dimension_terms_for_the_readme_example():
    r = kl_diag_standard([0.5, 1.0], sigma=[1.0, 2.0])
    assert r.terms.tolist() == pytest.approx([0.125, 0.5 * (4 - math.log(4))], rel=1e-14)
    assert r.total.item() == pytest.approx(0.125 + 0.5 * (4 - math.log(4)), rel=1e-14)


# --- against torch.distributions ------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8, 16])
def test_matches_torch_distributions_on_random_spd(k):
    gen = torch.Generator().manual_seed(100 + k)
    for _ in range(3):
        m0, m1 = torch.randn(2, k, generator=gen, dtype=torch.float64)
        s0, s1 = random_spd(k, gen), random_spd(k, gen)
        ref = kl_divergence(MultivariateNormal(m0, s0), MultivariateNormal(m1, s1)).item()
        assert kl_gaussians(m0.numpy(), s0.numpy(), m1.numpy(), s1.numpy()) == pytest.approx(ref, rel=1e-10, abs=1e-12)


def test_diagonal_vector_full_matrix_and_standard_agree():
    gen = torch.Generator().manual_seed(7)
    mu = torch.randn(6, generator=gen, dtype=torch.float64)
    var = torch.rand(6, generator=gen, dtype=torch.float64) * 3 + 0.1
    zeros, ones = torch.zeros(6, dtype=torch.float64), torch.ones(6, dtype=torch.float64)
    via_vector = kl_gaussians(mu, var, zeros, ones)
    via_matrix = kl_gaussians(mu, torch.diag(var), zeros, torch.eye(6, dtype=torch.float64))
    closed = kl_diag_standard(mu, sigma=var.sqrt()).total.item()
    assert via_vector == pytest.approx(closed, rel=1e-13)
    assert via_matrix == pytest.approx(closed, rel=1e-12)
    # a diagonal against a full covariance goes through Cholesky
    s1 = random_spd(6, gen)
    ref = kl_divergence(MultivariateNormal(mu, torch.diag(var)), MultivariateNormal(zeros, s1)).item()
    assert kl_gaussians(mu, var, zeros, s1) == pytest.approx(ref, rel=1e-10)


def test_diag_terms_against_general_diagonal_pair():
    m0, lv0, m1, lv1 = [0.3, -1.0], [0.2, -0.7], [1.0, 0.5], [1.1, 0.0]
    terms = kl_diag_terms(m0, lv0, m1, lv1)
    ref = kl_divergence(MultivariateNormal(torch.tensor(m0, dtype=torch.float64), torch.diag(torch.tensor(lv0, dtype=torch.float64).exp())),
                        MultivariateNormal(torch.tensor(m1, dtype=torch.float64), torch.diag(torch.tensor(lv1, dtype=torch.float64).exp())))
    assert terms.total.item() == pytest.approx(ref.item(), rel=1e-12)


# --- accuracy near sigma = 1 ----------------------------------------------


@pytest.mark.parametrize("x", [1e-8, -1e-8, 1e-12, 3e-5, -2e-3, 0.05, 0.0999, 0.1, -0.1001, 0.7, -3.0, 20.0])
def test_exp_m1_m_is_accurate_everywhere(x):
    got = exp_m1_m(torch.tensor(x, dtype=torch.float64)).item()
    assert got == pytest.approx(exact_em1m(x), rel=1e-14)


def test_logvar_near_zero_is_exact_to_1e_12():
    lv = 1e-8
    got = kl_diag_standard([0.0], logvar=[lv]).total.item()
    exact = 0.5 * exact_em1m(lv)
    assert abs(got - exact) / exact < 1e-12
    # the naive and the expm1-minus forms lose this; the test would catch a regression
    naive = 0.5 * (math.expm1(lv) - lv)
    assert abs(naive - exact) / exact > 1e-12


def test_sigma_and_logvar_agree_including_near_one():
    gen = torch.Generator().manual_seed(3)
    mu = torch.randn(50, generator=gen, dtype=torch.float64)
    lv = torch.randn(50, generator=gen, dtype=torch.float64) * 2
    by_lv = kl_diag_standard(mu, logvar=lv).terms
    by_sigma = kl_diag_standard(mu, sigma=torch.exp(0.5 * lv)).terms
    torch.testing.assert_close(by_sigma, by_lv, rtol=1e-12, atol=0)
    # sigma a hair above 1: compare with ln sigma² computed in Decimal from the same float
    sigma = 1.0 + 2.0 ** -30
    lv_exact = 2 * Decimal(sigma).ln()
    exact = 0.5 * float(lv_exact.exp() - 1 - lv_exact)
    got = kl_diag_standard([0.0], sigma=[sigma]).total.item()
    assert abs(got - exact) / exact < 1e-12
    same = kl_diag_standard([0.0], logvar=[2 * math.log(sigma)]).total.item()
    assert abs(same - exact) / exact < 1e-12


def test_sigma_one_and_zero_mean_is_exactly_zero():
    assert kl_diag_standard([0.0, 0.0], sigma=1.0).total.item() == 0.0
    assert kl(Gaussian.diag([1.0, 2.0], sigma=[3.0, 0.5]), Gaussian.diag([1.0, 2.0], sigma=[3.0, 0.5])) == 0.0


# --- shapes, dtypes, gradients --------------------------------------------


def test_batched_shapes_and_broadcast():
    mu = torch.randn(4, 3, 5, dtype=torch.float64)
    lv = torch.randn(4, 3, 5, dtype=torch.float64)
    r = kl_diag_standard(mu, logvar=lv)
    assert r.terms.shape == (4, 3, 5) and r.total.shape == (4, 3)
    torch.testing.assert_close(r.total, r.terms.sum(-1))
    torch.testing.assert_close(r.total[2, 1], kl_diag_standard(mu[2, 1], logvar=lv[2, 1]).total)
    # a scalar spread broadcasts over the batch
    r1 = kl_diag_standard(mu, sigma=1.0)
    torch.testing.assert_close(r1.total, 0.5 * (mu ** 2).sum(-1))


def test_python_numbers_become_numpy_float64_and_tensors_stay_torch():
    assert kl_diag_standard([1, 2], sigma=[1, 1]).terms.dtype == np.float64
    assert kl_diag_standard(torch.tensor([1, 2]), logvar=0.0).terms.dtype == torch.float64


def test_float32_keeps_dtype_and_gradients_flow():
    mu = torch.tensor([[0.5, -1.0], [2.0, 0.0]], dtype=torch.float32, requires_grad=True)
    lv = torch.tensor([[0.0, 1e-4], [-2.0, 60.0]], dtype=torch.float32, requires_grad=True)
    r = kl_diag_standard(mu, logvar=lv)
    assert r.total.dtype == torch.float32 and r.total.shape == (2,)
    r.total.mean().backward()
    assert torch.isfinite(mu.grad).all() and torch.isfinite(lv.grad).all()
    # d/dmu = mu, d/dlv = (e^lv − 1)/2, each divided by the batch size of 2
    torch.testing.assert_close(mu.grad, mu.detach() / 2)
    torch.testing.assert_close(lv.grad, torch.expm1(lv.detach()) / 4, rtol=1e-5, atol=1e-7)


def test_both_or_neither_spread_is_a_programming_error():
    with pytest.raises(TypeError):
        kl_diag_standard([0.0])
    with pytest.raises(TypeError):
        kl_diag_standard([0.0], sigma=[1.0], logvar=[0.0])


# --- covariance validation -------------------------------------------------


@pytest.mark.parametrize("cov, words", [
    ([[1.0, 0.5], [0.2, 1.0]], "cov1 is not symmetric"),
    ([[1.0, 2.0], [2.0, 1.0]], "cov1 is not positive definite"),
    ([1.0, -1.0], "cov1 is not positive definite"),
    ([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], "cov1 must be a square matrix"),
    ([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], "cov1 is 3x3 but the mean has 2"),
    ([[1.0, float("nan")], [float("nan"), 1.0]], "cov1 has a value that is not finite"),
])
def test_bad_covariance_is_named(cov, words):
    with pytest.raises(BadInput, match=words):
        kl_gaussians([0.0, 0.0], [1.0, 1.0], [0.0, 0.0], cov)


def test_rounding_asymmetry_is_tolerated():
    s = torch.tensor([[2.0, 0.5], [0.5 + 1e-15, 1.0]], dtype=torch.float64)
    c = check_covariance(s, 2, "cov")
    assert np.array_equal(c, c.T)


# --- Monte Carlo -----------------------------------------------------------


@pytest.mark.parametrize("q, p", [
    (Gaussian.diag([0.5, 1.0], sigma=[1.0, 2.0]), Gaussian.standard(2)),
    (Gaussian.full([1.0, -1.0, 0.0], random_spd(3, torch.Generator().manual_seed(1))),
     Gaussian.full([0.0, 0.5, 0.0], random_spd(3, torch.Generator().manual_seed(2)))),
])
def test_monte_carlo_agrees_within_four_standard_errors(q, p):
    est, se = kl_monte_carlo(q, p, 50_000, seed=11)
    assert 0 < se < 0.05
    assert abs(est - kl(q, p)) < 4 * se
    assert kl_monte_carlo(q, p, 50_000, seed=11) == (est, se)  # seeded: reproducible


def test_monte_carlo_equals_sampling_z_and_torch_log_densities():
    # Redraw the same ε, form z = μ0 + L0 ε, and average ln q(z) − ln p(z)
    # from torch.distributions: the whitened shortcut must give the same mean
    # and standard error, chunk boundaries included.
    gen = torch.Generator().manual_seed(4)
    s0, s1 = random_spd(3, gen).numpy(), random_spd(3, gen).numpy()
    q, p = Gaussian.full([0.3, -1.0, 0.5], s0), Gaussian.full([0.0, 0.2, -0.1], s1)
    est, se = kl_monte_carlo(q, p, 10_000, seed=5, chunk=999)
    rng = np.random.default_rng(5)
    eps = np.concatenate([rng.standard_normal((min(999, 10_000 - s), 3)) for s in range(0, 10_000, 999)])
    z = torch.tensor(q.mean + eps @ np.linalg.cholesky(s0).T)
    r = (MultivariateNormal(torch.tensor(q.mean), torch.tensor(s0)).log_prob(z)
         - MultivariateNormal(torch.tensor(p.mean), torch.tensor(s1)).log_prob(z))
    assert est == pytest.approx(r.mean().item(), rel=1e-10)
    assert se == pytest.approx(r.std().item() / 100, rel=1e-8)


def test_monte_carlo_memory_is_bounded_by_chunks():
    assert chunk_size(1) == 1 << 16 and chunk_size(1000) == 16 * 2**20 // 8000
    assert 8 * 1000 * chunk_size(1000) <= 16 * 2**20


@pytest.mark.parametrize("n, d, words", [
    (-1, 2, "must be 0"), (1, 2, "at least 2"), (10**12, 2, "at most 10,000,000"),
    (2_000_000, 1000, "times the dimension must be at most"),
])
def test_sample_limits_are_checked_before_drawing(n, d, words):
    with pytest.raises(BadInput, match=words) as info:
        check_samples(n, d)
    assert info.value.field == "samples"


# --- input parsing (shared by the CLI and the TUI) --------------------------


def test_parse_floats_forms():
    assert parse_floats("0.5,1", "mu") == [0.5, 1.0]
    assert parse_floats(" [ -1 , 2e-3 ] ", "mu") == [-1.0, 0.002]
    assert parse_floats(3, "mu") == [3.0]
    assert parse_floats([1, 2.5], "mu") == [1.0, 2.5]


@pytest.mark.parametrize("text, words", [
    ("", "mu is empty"), ("1,,2", "empty entry"), ("1,x", "'x', which is not a number"),
    ("nan", "not a finite"), ("1,-inf", "not a finite"),
])
def test_parse_floats_rejects_with_the_field_and_no_flag(text, words):
    with pytest.raises(BadInput, match=words) as info:
        parse_floats(text, "mu")
    assert info.value.field == "mu" and "--" not in str(info.value)


def test_build_problem_broadcasts_scalars():
    pr = build_problem(mu="1", sigma="1,2,3")
    assert pr.q.mean.tolist() == [1.0, 1.0, 1.0] and pr.p_is_standard and pr.diagonal
    pr = build_problem(mu="1", cov0="[[2, 0.5], [0.5, 1]]")
    assert pr.q.mean.tolist() == [1.0, 1.0] and not pr.diagonal


def test_build_problem_names_the_mismatch():
    with pytest.raises(InputsDisagree, match="sigma has 3 values but mu has 2 values") as info:
        build_problem(mu="1,2", sigma="1,2,3")
    assert (info.value.field, info.value.other) == ("sigma", "mu")
    assert info.value.worded("--sigma", "--mu") == "--sigma has 3 values but --mu has 2 values"
    with pytest.raises(InputsDisagree, match="cov0 is 3x3 but mu has 2 values"):
        build_problem(mu="1,2", cov0=json.dumps(np.eye(3).tolist()))
    with pytest.raises(BadInput, match="sigma must be > 0, got 0$") as info:
        build_problem(sigma="1,0")
    assert info.value.field == "sigma" and info.value.value == 0


def test_load_matrix_from_files(tmp_path):
    m = [[2.0, 0.5], [0.5, 1.0]]
    (tmp_path / "c.json").write_text(json.dumps(m))
    np.save(tmp_path / "c.npy", np.array(m))
    assert load_matrix(str(tmp_path / "c.json"), "cov0").tolist() == m
    assert load_matrix(str(tmp_path / "c.npy"), "cov0").tolist() == m
    with pytest.raises(BadInput, match="names no file"):
        load_matrix(str(tmp_path / "nope.json"), "cov0")
    (tmp_path / "bad.json").write_text("[[1, 2], [3]]")
    with pytest.raises(BadInput, match="rows of different lengths"):
        load_matrix(str(tmp_path / "bad.json"), "cov0")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(BadInput, match="holds object values, not numbers"):
        load_matrix(str(tmp_path / "obj.npy"), "cov0")


def test_evaluate_report_numbers():
    rep = report_for(build_problem(mu="0.5,1", sigma="1,2"), samples=20_000, seed=1)
    assert rep.terms == pytest.approx([0.125, 1.3068528194400546], rel=1e-14)
    assert rep.reverse_terms == pytest.approx([0.125, 0.5 * (0.25 + 0.25 - 1 + math.log(4))], rel=1e-14)
    assert rep.total == pytest.approx(1.4318528194400546, rel=1e-14)
    assert abs(rep.mc_estimate - rep.total) < 4 * rep.mc_stderr


# --- explanations ---------------------------------------------------------


def explained(**kw):
    pr = build_problem(**kw)
    return pr, explain_markdown(pr.q, pr.p)


def test_explanation_covers_what_the_exercise_asks():
    _, md = explained(mu="0.5,1", sigma="1,2")
    for words in ("absolutely continuous", "KL(N0 ‖ N1) = ∞", "−KL(N0 ‖ N1) = ∫ N0(x) ln(N1(x) / N0(x)) dx",
                  "ln t ≤ t − 1", "equality only at t = 1", "(M1)", "(M2)", "(M3)", "M1 holds",
                  "Non-negativity and identity", "Mahalanobis", "The trace trick", "tr(I_d) = d",
                  "product of its diagonal entries", "−d = −Σ_j 1", "ln(det Σ1 / det Σ0)",
                  "½ Σ_j (σ_j² + μ_j² − 1 − ln σ_j²)"):
        assert words in md, words
    assert "share one covariance" not in md and "0.0000" not in md
    assert "| 2 | 4 | 1.61371 | 1 | 1.30685 |" in md  # r, r − 1 − ln r, μ², term for dimension 2


@pytest.mark.parametrize("kw, reason", [
    (dict(mu="1,2", sigma="1.5,0.5", mu1="0,0", sigma1="1.5,0.5"), "because your Σ0 = Σ1"),
    (dict(sigma="1.4142135623730951,0.7071067811865476"), "come in reciprocal pairs"),
    (dict(mu="0,0", sigma="2,1", sigma1="1,2"), "with coordinates 1 and 2 swapped"),
    (dict(mu="0.3", sigma="2", mu1="0.3", sigma1="2"), "Both are 0 because N0 = N1"),
    (dict(mu="0.5,1", sigma="1,2"), "They differ: your own input is a counterexample to M2"),
])
def test_symmetry_sentence_follows_from_the_inputs(kw, reason):
    pr, md = explained(**kw)
    assert reason in md
    forward, backward = kl(pr.q, pr.p), kl(pr.p, pr.q)
    if "reciprocal" in reason:  # λ = 2 and 1/2: ½ (2 − 1 − ln 2) + ½ (½ − 1 + ln 2) = ¼ both ways
        assert forward == pytest.approx(0.25, rel=1e-12) and backward == pytest.approx(0.25, rel=1e-12)
        assert "coincidence" not in md
        assert "Your dimension 1 alone" in md  # the asymmetry from the user's own numbers
    if "Σ0 = Σ1" in reason:
        assert forward == pytest.approx(backward, rel=1e-14)
        assert f"√(2 · {forward:.6g}) = {math.sqrt(2 * forward):.6g}" in md


def _check_printed_arithmetic(md: str) -> int:
    """Every 'a + b − c = r' and '½ [ … ] = r' line in the code blocks adds up as printed."""
    checked = 0
    for line in md.splitlines():
        m = re.search(r"(½ \[.*\]|[−\d.e+-]+(?: [+−] [\d.e+-]+)+) = ([−\d.e+-]+)$", line)
        if not m or "(" in m.group(1).replace("½ [", "") and "½ [(" not in m.group(1):
            continue
        expr = m.group(1).replace("½ [", "0.5 * (").replace("]", ")").replace("−", "-")
        expr = re.sub(r"([\d.]+(?:e[+-]\d+)?)", r"Decimal('\1')", expr).replace("0.5 *", "Decimal('0.5') *")
        value = eval(expr, {"Decimal": Decimal})  # noqa: S307 - text built by the test from digits
        shown = m.group(2).replace("−", "-")
        digits = len(re.sub(r"e.*|[-.]", "", shown).lstrip("0")) or 1
        assert f"{float(value):.{max(digits, 1)}g}" == f"{float(shown):.{max(digits, 1)}g}", line
        checked += 1
    return checked


@pytest.mark.parametrize("kw", [
    dict(mu="0.5,1", sigma="1,2"),
    dict(mu="1", cov0="[[2, 0.5], [0.5, 1]]"),
    dict(mu="0.3,-1", sigma="1.5,0.5", mu1="1,0", sigma1="2"),
    dict(sigma="1.4142135623730951,0.7071067811865476"),
])
def test_every_printed_sum_adds_up_and_matches_the_computation(kw):
    pr, md = explained(**kw)
    assert _check_printed_arithmetic(md) >= 2
    forward = kl(pr.q, pr.p)
    line = next(ln for ln in md.splitlines() if re.match(r"KL\(N0 ‖ N1\) = ½ \[[−\d]", ln))
    assert float(line.rsplit("= ", 1)[1].replace("−", "-")) == pytest.approx(forward, rel=1e-5)
    assert f"KL(N0 ‖ N1) = {forward:.6g}" in md and f"KL(N1 ‖ N0) = {kl(pr.p, pr.q):.6g}" in md


def test_triangle_uses_the_users_numbers_or_fixed_ones():
    _, md = explained(mu="1,2")  # equal covariances: the midpoint breaks it
    assert "let M be the Gaussian halfway" in md and "quarter of the direct route" in md
    _, same = explained(mu="0")
    assert "Your N0 = N1 cannot show it" in same and "= 0.5 + 0.5 = 1" in same and "2 > 1" in same


# --- numbers, pictures, demo ------------------------------------------------


def test_significant_digits_never_print_zero_for_a_positive_number():
    assert num(3e-9) == "3e-09" and num(0.125) == "0.125" and num(1.4318528194) == "1.43185"
    assert num(0.0) == "0" and num(math.inf) == "overflow" and prose(-0.5) == "−0.5"
    assert adding_up([0.1, 0.2], lambda xs: xs[0] + xs[1], 0.30000000000000004) == (6, True)
    # parts that cancel need more digits to add up as printed
    assert adding_up([1.00000001, 1.0], lambda xs: xs[0] - xs[1], 1.00000001 - 1.0)[0] > 6


def test_one_by_one_full_covariance_keeps_its_digits():
    lv = 2 * Decimal(1.00000001).sqrt().ln()
    exact = float((lv.exp() - 1 - lv) / 2)
    full = kl(Gaussian.full([0.0], [[1.00000001]]), Gaussian.standard(1))
    diag = kl(Gaussian.full([0.0], [1.00000001]), Gaussian.standard(1))
    assert abs(full - exact) / exact < 1e-12 and abs(diag - exact) / exact < 1e-12
    # and a 3x3 near the identity against torch in float64 (which cancels): we agree to its accuracy
    s = np.eye(3) + 1e-6 * np.array([[1, 0.2, 0], [0.2, 2, 0.1], [0, 0.1, 0.5]])
    ref = kl_divergence(MultivariateNormal(torch.zeros(3, dtype=torch.float64), torch.tensor(s)),
                        MultivariateNormal(torch.zeros(3, dtype=torch.float64), torch.eye(3, dtype=torch.float64)))
    assert kl(Gaussian.full(np.zeros(3), s), Gaussian.standard(3)) == pytest.approx(ref.item(), rel=1e-4)


@pytest.mark.parametrize("kw, forward", [
    (dict(logvar="-740"), 0.5 * (math.exp(-740) - 1 + 740)),
    (dict(mu="1e150", sigma="1e-10"), 0.5 * 1e300),
])
def test_one_direction_overflowing_keeps_the_other(kw, forward):
    rep = report_for(build_problem(**kw), samples=1000)
    assert rep.total == pytest.approx(forward, rel=1e-12)
    assert math.isinf(rep.reverse) and rep.overflowed == ["reverse"]
    assert rep.to_json()["reverse"] is None and rep.to_json()["total"] == rep.total
    assert rep.mc_estimate == pytest.approx(forward, rel=1e-3)


def test_json_nesting_is_measured_without_parsing():
    assert json_depth("[[1, 2], [3, 4]]") == 2 and json_depth("[1]") == 1
    assert json_depth("[" * 100_000 + "]" * 100_000) == 100_000
    with pytest.raises(BadInput, match="nests lists 100000 deep") as info:
        load_matrix("[" * 100_000 + "]" * 100_000, "cov0")
    assert info.value.field == "cov0"


def test_density_picture_area_is_the_term():
    pr = build_problem(mu="0.5,1", sigma="1,2")
    pic = picture(pr.q, pr.p)
    assert pic.j == 1  # the largest term is dimension 2
    assert pic.term == pytest.approx(0.5 * (4 - math.log(4)), rel=1e-12)
    assert pic.area == pytest.approx(pic.term, rel=1e-5)
    assert pic.ellipses is not None and pic.ellipses["q"][1].shape == (2, 120)
    # a point on q's 1σ ellipse is at Mahalanobis distance 1 from q's mean
    x = pic.ellipses["q"][0][:, 17]
    assert ((x - pr.q.mean) ** 2 / pr.q.cov).sum() == pytest.approx(1.0, rel=1e-12)
    with pytest.raises(BadInput, match="must be between 1 and 2") as info:
        picture(pr.q, pr.p, dim=3)
    assert info.value.field == "dim"


def test_demo_fits_moments_and_a_mode():
    p = Mixture.of([0.3, 0.7], [-3.0, 2.0], [0.5, 0.8])
    demo = run_demo(p)
    mean = 0.3 * -3 + 0.7 * 2
    var = 0.3 * (0.25 + 9) + 0.7 * (0.64 + 4) - mean ** 2
    assert demo.moments[0] == pytest.approx(mean, abs=1e-6)
    assert demo.moments[1] ** 2 == pytest.approx(var, abs=1e-6)
    assert min(abs(demo.mode[0] - m) for m in (-3.0, 2.0)) < 0.1
    # each fit wins in the direction it minimises
    assert demo.table["mode"]["KL(q‖p)"] < demo.table["moments"]["KL(q‖p)"]
    assert demo.table["moments"]["KL(p‖q)"] < demo.table["mode"]["KL(p‖q)"]
    # one component: both fits are that component and both KLs vanish
    one = run_demo(Mixture.of([1.0], [0.5], [2.0]))
    assert one.mode == pytest.approx((0.5, 2.0), abs=1e-6) and one.table["mode"]["KL(q‖p)"] == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize("args, field", [
    (([0.5, 0.4], [0, 1], [1, 1]), "weights"), (([0.5, 0.5], [0, 1], [1, 0]), "spreads"),
    (([0.5, 0.5], [0, 1], [1]), "spreads"), (([1.5, -0.5], [0, 1], [1, 1]), "weights"),
])
def test_demo_rejects_bad_mixtures(args, field):
    with pytest.raises(BadInput) as info:
        Mixture.of(*args)
    assert info.value.field == field
