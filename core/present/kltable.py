"""What `aekl kl` and the TUI's KL panel show, as plain strings: the table's
title, columns and rows, and the sentences under it. Each face only lays
them out (rich tables in both), so both say the same thing in the same words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.present.numbers import num
from core.gauss.parse import KLReport


@dataclass(frozen=True)
class KLTable:
    title: str
    columns: list[str]
    rows: list[list[str]]
    total: list[str] | None  # the bold last row (diagonal pairs only)


def p_name(report: KLReport) -> str:
    return "N(0, I)" if report.problem.p_is_standard else "p"


def _spread(g) -> list[float]:
    # σ for a diagonal, the variance Σ_jj for a full matrix
    return np.exp(0.5 * g.log_variances).tolist() if g.is_diag else np.diagonal(g.cov).tolist()


def kl_table(report: KLReport, max_rows: int | None = None) -> KLTable:
    problem = report.problem
    q, p = problem.q, problem.p
    standard = problem.p_is_standard
    title = f"KL(q ‖ {p_name(report)}) per dimension" if problem.diagonal else "q and p by dimension"
    columns = ["dim", "μ", "σ" if q.is_diag else "Σ0_jj"]
    inputs = [q.mean.tolist(), _spread(q)]
    if not standard:
        columns += ["μ1", "σ1" if p.is_diag else "Σ1_jj"]
        inputs += [p.mean.tolist(), _spread(p)]
    results = [report.terms, report.reverse_terms] if problem.diagonal else []
    columns += ["KL(q‖p) term", "KL(p‖q) term"][: len(results)]
    shown = range(q.dim if max_rows is None else min(q.dim, max_rows))
    rows = [[str(j + 1), *(num(col[j]) for col in inputs), *(num(col[j]) for col in results)] for j in shown]
    if len(shown) < q.dim:
        rows.append(["…", *[""] * (len(columns) - 1)])
    total = ["total", *[""] * len(inputs), num(report.total), num(report.reverse)] if results else None
    return KLTable(title, columns, rows, total)


def direction_lines(report: KLReport) -> list[str]:
    """'KL(q ‖ N(0, I)) = 1.43185' and the reverse; an overflowed direction says so."""
    name = p_name(report)

    def value(x: float) -> str:
        return num(x) if math.isfinite(x) else "overflow (beyond float64)"

    return [f"KL(q ‖ {name}) = {value(report.total)}",
            f"KL({name} ‖ q) = {value(report.reverse)}   (the reverse direction)"]


def monte_carlo_lines(report: KLReport) -> list[str]:
    if not report.samples:
        return []
    name = p_name(report)
    if report.mc_estimate is None:
        if math.isinf(report.total):
            return ["Monte Carlo: skipped, KL(q ‖ p) overflows float64"]
        return ["Monte Carlo: the log-density ratios overflow float64 for these values"]
    se = report.mc_stderr
    z = abs(report.mc_estimate - report.total) / se if se else 0.0
    return [f"Monte Carlo KL(q ‖ {name}) ≈ {num(report.mc_estimate)} ± {num(se, 2)}",
            f"  {report.samples:,} draws from q, seed {report.seed}: {z:.1f} standard errors from the closed form"]
