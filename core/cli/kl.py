"""`aekl kl`: KL divergence between two Gaussians, with a Monte Carlo check
and, on request, the derivations.

torch (via core.klinput) and rich's Markdown are imported inside the command
so that `aekl --help` does not pay for them.
"""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table

from core.cli.base import app, out, print_json
from core.config import MAX_SAMPLES


def _num(x: float) -> str:
    """Six decimals for everyday sizes, scientific when that would mislead."""
    return f"{x:.6f}" if 1e-4 <= abs(x) < 1e6 or x == 0 else f"{x:.6g}"


def _table(report) -> Table:
    problem = report.problem
    q, p = problem.q, problem.p
    p_name = "N(0, I)" if problem.p_is_standard else "p"
    title = f"KL(q ‖ {p_name}) per dimension" if problem.diagonal else "q and p by dimension"
    table = Table(title=title, title_justify="left")
    table.add_column("dim", justify="right")
    table.add_column("μ", justify="right")
    table.add_column("σ" if q.is_diag else "Σ₀ᵢᵢ", justify="right")
    if not problem.p_is_standard:
        table.add_column("μ₁", justify="right")
        table.add_column("σ₁" if p.is_diag else "Σ₁ᵢᵢ", justify="right")

    def spread(g):
        # σ for a diagonal, the variance Σᵢᵢ for a full matrix
        return g.log_variances.mul(0.5).exp().tolist() if g.is_diag else g.cov.diagonal().tolist()

    inputs = [q.mean.tolist(), spread(q)]
    if not problem.p_is_standard:
        inputs += [p.mean.tolist(), spread(p)]
    results = [report.terms, report.reverse_terms] if problem.diagonal else []
    for name in ("KL(q‖p) term", "KL(p‖q) term")[: len(results)]:
        table.add_column(name, justify="right")
    for i in range(q.dim):
        table.add_row(str(i + 1), *(f"{col[i]:g}" for col in inputs), *(_num(col[i]) for col in results))
    if results:
        table.add_section()
        table.add_row("total", *([""] * len(inputs)), _num(report.total), _num(report.reverse), style="bold")
    return table


@app.command("kl")
def kl_command(
    mu: str = typer.Option("0", "--mu", help="Mean of q, comma-separated, e.g. 0.5,1 (a single value broadcasts)."),
    sigma: Optional[str] = typer.Option(None, "--sigma", help="Standard deviations of q, > 0 (default 1)."),
    logvar: Optional[str] = typer.Option(None, "--logvar", help="ln σ² of q, instead of --sigma (what a VAE encoder emits)."),
    mu1: Optional[str] = typer.Option(None, "--mu1", help="Mean of the second Gaussian p (default 0)."),
    sigma1: Optional[str] = typer.Option(None, "--sigma1", help="Standard deviations of p (default 1, so p = N(0, I))."),
    cov0: Optional[str] = typer.Option(
        None, "--cov0", help="Full covariance of q: a .json or .npy file, or inline JSON like '[[2,0.5],[0.5,1]]'."),
    cov1: Optional[str] = typer.Option(None, "--cov1", help="Full covariance of p, same forms as --cov0."),
    samples: int = typer.Option(100_000, "--samples", help=f"Monte Carlo draws from q (0 skips the check; at most {MAX_SAMPLES:,})."),
    seed: int = typer.Option(0, "--seed", help="Seed for the Monte Carlo draws (0 to 2**63 - 1)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object on stdout and nothing else."),
    explain: bool = typer.Option(False, "--explain", help="Also show the derivations, with these numbers."),
) -> None:
    """KL(q ‖ p) between Gaussians: per-dimension terms, both directions, a Monte Carlo check."""
    from core.explain import explain_markdown
    from core.klinput import build_problem, evaluate

    problem = build_problem(mu, sigma, logvar, mu1, sigma1, cov0, cov1)
    report = evaluate(problem, samples, seed)
    text = explain_markdown(problem.q, problem.p) if explain else None
    if json_out:
        obj = report.to_json()
        if text is not None:
            obj["explain"] = text  # Markdown source; stdout stays one JSON object
        print_json(obj)
        return

    out.print(_table(report))
    if not problem.diagonal:
        out.print("[dim]With a full covariance KL does not split by dimension.[/]")
    p_name = "N(0, I)" if problem.p_is_standard else "p"
    out.print(f"KL(q ‖ {p_name}) = [bold]{_num(report.total)}[/]")
    out.print(f"KL({p_name} ‖ q) = {_num(report.reverse)}   (the reverse direction)")
    if report.mc_estimate is not None:
        z = abs(report.mc_estimate - report.total) / report.mc_stderr if report.mc_stderr else 0.0
        out.print(f"Monte Carlo KL(q ‖ {p_name}) ≈ {_num(report.mc_estimate)} ± {_num(report.mc_stderr)}")
        out.print(f"[dim]  {report.samples:,} draws from q, seed {report.seed}: "
                  f"{z:.1f} standard errors from the closed form[/]")
    elif samples:
        out.print("Monte Carlo: the log-density ratios overflow float64 for these values")
    if text is not None:
        from rich.markdown import Markdown

        out.print()
        out.print(Markdown(text))
