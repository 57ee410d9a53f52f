"""core.kl, core.klinput and core.explain: values, accuracy, shapes, errors."""

from __future__ import annotations

import json
import math
from decimal import Decimal, getcontext

import numpy as np
import pytest
import torch
from torch.distributions import MultivariateNormal, kl_divergence

from core.errors import BadInput
from core.explain import explain_markdown
from core.kl import (Gaussian, asymmetry_example, check_covariance, exp_m1_m, kl, kl_diag_standard,
                     kl_diag_terms, kl_gaussians, kl_monte_carlo, triangle_example,
                     triangle_through_midpoint)
from core.klinput import build_problem, evaluate, load_matrix, parse_floats

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
    assert kl_gaussians([1.0], [[1.0]], [0.0], [[1.0]]).item() == pytest.approx(0.5, abs=1e-15)


def test_asymmetry_pair():
    q, p, pair = asymmetry_example()
    assert float(q.cov) == 4.0  # variance 4, i.e. sigma 2
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
        assert kl_gaussians(m0, s0, m1, s1).item() == pytest.approx(ref, rel=1e-10, abs=1e-12)


def test_diagonal_vector_full_matrix_and_standard_agree():
    gen = torch.Generator().manual_seed(7)
    mu = torch.randn(6, generator=gen, dtype=torch.float64)
    var = torch.rand(6, generator=gen, dtype=torch.float64) * 3 + 0.1
    zeros, ones = torch.zeros(6, dtype=torch.float64), torch.ones(6, dtype=torch.float64)
    via_vector = kl_gaussians(mu, var, zeros, ones).item()
    via_matrix = kl_gaussians(mu, torch.diag(var), zeros, torch.eye(6, dtype=torch.float64)).item()
    closed = kl_diag_standard(mu, sigma=var.sqrt()).total.item()
    assert via_vector == pytest.approx(closed, rel=1e-13)
    assert via_matrix == pytest.approx(closed, rel=1e-12)
    # a diagonal against a full covariance goes through Cholesky
    s1 = random_spd(6, gen)
    ref = kl_divergence(MultivariateNormal(mu, torch.diag(var)), MultivariateNormal(zeros, s1)).item()
    assert kl_gaussians(mu, var, zeros, s1).item() == pytest.approx(ref, rel=1e-10)


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
    assert kl(Gaussian.diag([1.0, 2.0], sigma=[3.0, 0.5]), Gaussian.diag([1.0, 2.0], sigma=[3.0, 0.5])).item() == 0.0


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


def test_python_numbers_become_float64():
    assert kl_diag_standard([1, 2], sigma=[1, 1]).terms.dtype == torch.float64
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


def test_general_form_differentiates_in_float32():
    m0 = torch.tensor([0.2, -0.4], requires_grad=True)
    s0 = torch.tensor([[1.5, 0.2], [0.2, 0.8]], requires_grad=True)
    out = kl_gaussians(m0, s0, torch.zeros(2), torch.eye(2))
    assert out.dtype == torch.float32
    out.backward()
    torch.testing.assert_close(m0.grad, m0.detach())  # gradient of ½ μᵀμ


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
    assert check_covariance(s, 2, "cov").equal(check_covariance(s, 2, "cov").mT)


# --- Monte Carlo -----------------------------------------------------------


@pytest.mark.parametrize("q, p", [
    (Gaussian.diag([0.5, 1.0], sigma=[1.0, 2.0]), Gaussian.standard(2)),
    (Gaussian.full([1.0, -1.0, 0.0], random_spd(3, torch.Generator().manual_seed(1))),
     Gaussian.full([0.0, 0.5, 0.0], random_spd(3, torch.Generator().manual_seed(2)))),
])
def test_monte_carlo_agrees_within_four_standard_errors(q, p):
    est, se = kl_monte_carlo(q, p, 50_000, seed=11)
    assert 0 < se < 0.05
    assert abs(est - kl(q, p).item()) < 4 * se
    assert kl_monte_carlo(q, p, 50_000, seed=11) == (est, se)  # seeded: reproducible


def test_monte_carlo_chunks_merge_like_one_pass():
    # Redraw the same chunks by hand and take mean and standard error in one go.
    q, p = Gaussian.diag([0.3, -1.0], sigma=[1.7, 0.4]), Gaussian.standard(2)
    est, se = kl_monte_carlo(q, p, 10_000, seed=5, chunk=999)
    gen = torch.Generator().manual_seed(5)
    x = torch.cat([q.sample(min(999, 10_000 - s), gen) for s in range(0, 10_000, 999)])
    r = q.log_prob(x) - p.log_prob(x)
    assert est == pytest.approx(r.mean().item(), rel=1e-12)
    assert se == pytest.approx(r.std().item() / 100, rel=1e-10)


# --- input parsing (shared by the CLI and the TUI) --------------------------


def test_parse_floats_forms():
    assert parse_floats("0.5,1", "--mu") == [0.5, 1.0]
    assert parse_floats(" [ -1 , 2e-3 ] ", "--mu") == [-1.0, 0.002]
    assert parse_floats(3, "--mu") == [3.0]
    assert parse_floats([1, 2.5], "--mu") == [1.0, 2.5]


@pytest.mark.parametrize("text, words", [
    ("", "--mu is empty"), ("1,,2", "empty entry"), ("1,x", "'x' is not a number"),
    ("nan", "not a finite"), ("1,-inf", "not a finite"),
])
def test_parse_floats_rejects(text, words):
    with pytest.raises(BadInput, match=words):
        parse_floats(text, "--mu")


def test_build_problem_broadcasts_scalars():
    pr = build_problem(mu="1", sigma="1,2,3")
    assert pr.q.mean.tolist() == [1.0, 1.0, 1.0] and pr.p_is_standard and pr.diagonal
    pr = build_problem(mu="1", cov0="[[2, 0.5], [0.5, 1]]")
    assert pr.q.mean.tolist() == [1.0, 1.0] and not pr.diagonal


def test_build_problem_names_the_mismatch():
    with pytest.raises(BadInput, match="--sigma has 3 values but --mu has 2 values"):
        build_problem(mu="1,2", sigma="1,2,3")
    with pytest.raises(BadInput, match="--cov0 is 3x3 but --mu has 2 values"):
        build_problem(mu="1,2", cov0=json.dumps(np.eye(3).tolist()))
    with pytest.raises(BadInput, match="sigma must be > 0"):
        build_problem(names={"sigma": "sigma"}, sigma="1,0")


def test_load_matrix_from_files(tmp_path):
    m = [[2.0, 0.5], [0.5, 1.0]]
    (tmp_path / "c.json").write_text(json.dumps(m))
    np.save(tmp_path / "c.npy", np.array(m))
    assert load_matrix(str(tmp_path / "c.json"), "--cov0").tolist() == m
    assert load_matrix(str(tmp_path / "c.npy"), "--cov0").tolist() == m
    with pytest.raises(BadInput, match="no such file"):
        load_matrix(str(tmp_path / "nope.json"), "--cov0")
    (tmp_path / "bad.json").write_text("[[1, 2], [3]]")
    with pytest.raises(BadInput, match="rows have different lengths"):
        load_matrix(str(tmp_path / "bad.json"), "--cov0")


def test_evaluate_report_numbers():
    rep = evaluate(build_problem(mu="0.5,1", sigma="1,2"), samples=20_000, seed=1)
    assert rep.terms == pytest.approx([0.125, 1.3068528194400546], rel=1e-14)
    assert rep.reverse_terms == pytest.approx([0.125, 0.5 * (0.25 + 0.25 - 1 + math.log(4))], rel=1e-14)
    assert rep.total == pytest.approx(1.4318528194400546, rel=1e-14)
    assert abs(rep.mc_estimate - rep.total) < 4 * rep.mc_stderr


# --- explanations ---------------------------------------------------------


def test_explanation_uses_the_input():
    pr = build_problem(mu="0.5,1", sigma="1,2")
    md = explain_markdown(pr.q, pr.p)
    for part in ("## 1. KL is never negative", "## 2. KL is not a metric", "## 3. The closed form"):
        assert part in md
    assert "ln t ≤ t − 1" in md and "½ Σᵢ (σᵢ² + μᵢ² − 1 − ln σᵢ²)" in md
    assert "1.4319" in md and "0.5681" in md  # both directions for this input
    assert "0.8069" in md and "0.3181" in md and "2.0000" in md and "0.5000 + 0.5000" in md
    assert "| 2 | 4.0000 | 1.6137 | 1.0000 | 1.3069 |" in md


def test_explanation_for_equal_covariances_and_full_matrices():
    same = explain_markdown(Gaussian.diag([1.0], sigma=[1.0]), Gaussian.standard(1))
    assert "share one covariance" in same
    full = explain_markdown(Gaussian.full([1.0, 1.0], [[2.0, 0.5], [0.5, 1.0]]), Gaussian.standard(2))
    assert "Σ = [(2, 0.5), (0.5, 1)]" in full and "1.2202" in full
