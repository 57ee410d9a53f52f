"""`aekl kl` and `aekl kl-demo`: KL divergence between Gaussians with a Monte
Carlo check, the derivations, pictures, and forward vs reverse KL.

Everything here runs on numpy: torch is never imported (it would triple the
start-up time). rich's Markdown and plotext are imported only when asked for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table
from rich.text import Text

from core.cli.base import app, out, print_json, safe_streams
from core.config import RUNS_DIR, flag_for
from core.errors import BadInput

POSTERIOR = "Posterior of a trained VAE"  # help panel of --run and its companions

def _reword(exc: BadInput) -> BadInput:
    """An error about two fields, with both called by their flags."""
    from core.gauss.parse import InputsDisagree

    if isinstance(exc, InputsDisagree):
        return BadInput(exc.worded(flag_for(exc.field), flag_for(exc.other)))
    return exc


def _rich_table(view) -> Table:
    table = Table(title=view.title, title_justify="left")
    for i, name in enumerate(view.columns):
        table.add_column(name, justify="right" if i else "right")
    for row in view.rows:
        table.add_row(*row)
    if view.total is not None:
        table.add_section()
        table.add_row(*view.total, style="bold")
    return table


def _ansi(text: str) -> Text:
    return Text.from_ansi(text)


@app.command("kl")
def kl_command(
    mu: Optional[str] = typer.Option(None, "--mu", help="Mean of q, comma-separated, e.g. 0.5,1 (a single value "
                                                        "broadcasts), or @file.npy / @file.txt for large d (default 0)."),
    sigma: Optional[str] = typer.Option(None, "--sigma", help="Standard deviations of q, > 0 (default 1)."),
    logvar: Optional[str] = typer.Option(None, "--logvar", help="ln σ² of q, instead of --sigma (what a VAE encoder emits)."),
    mu1: Optional[str] = typer.Option(None, "--mu1", help="Mean of the second Gaussian p (default 0)."),
    sigma1: Optional[str] = typer.Option(None, "--sigma1", help="Standard deviations of p (default 1, so p = N(0, I))."),
    cov0: Optional[str] = typer.Option(
        None, "--cov0", help="Full covariance of q: a .json or .npy file (no pickles), or inline JSON like "
                             "'[[2,0.5],[0.5,1]]'. At most 4096 x 4096."),
    cov1: Optional[str] = typer.Option(None, "--cov1", help="Full covariance of p, same forms as --cov0."),
    samples: int = typer.Option(
        100_000, "--samples", help="Monte Carlo draws from q (0 skips the check). At most 10,000,000, and "
                                   "samples x d at most 1e9; draws are made in chunks of at most 16 MiB, so "
                                   "memory stays bounded (d = 1000 with a full covariance: under 250 MB)."),
    seed: int = typer.Option(0, "--seed", help="Seed for the Monte Carlo draws (0 to 2^63 - 1)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object on stdout and nothing else."),
    explain: bool = typer.Option(False, "--explain", help="Also show the derivations, with these numbers."),
    plot: bool = typer.Option(False, "--plot", help="Draw q, p and the integrand q ln(q/p) of one dimension "
                                                    "(for d = 2 also the 1σ/2σ ellipses) in the terminal."),
    dim: Optional[int] = typer.Option(None, "--dim", help="Dimension to draw (1-based; default: the largest term)."),
    png: Optional[Path] = typer.Option(None, "--png", help="Save the same picture as a PNG file."),
    run: Optional[str] = typer.Option(None, "--run", help="A VAE run: q is its encoder's posterior q(z|x) of the "
                                                          "test image --index, p the prior N(0, I).", rich_help_panel=POSTERIOR),
    index: Optional[int] = typer.Option(None, "--index", help="Test image whose posterior --run uses (0 to 9999).",
                                        rich_help_panel=POSTERIOR),
    out_dir: Path = typer.Option(RUNS_DIR, "--out", help="Folder that holds run folders (with --run).",
                                 rich_help_panel=POSTERIOR),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="MNIST root for --run (default: the bundled "
                                                                     "copy via the cache).", rich_help_panel=POSTERIOR),
) -> None:
    """KL(q ‖ p) between Gaussians: per-dimension terms, both directions, a Monte Carlo check.

    When one direction overflows float64 the other is still printed, and the
    overflowed one is named. Ctrl-C stops a long Monte Carlo (exit 130).
    With --run and --index, q is a trained VAE's posterior of one test image.
    """
    import numpy as np

    safe_streams()
    # Overflow is reported as "overflow" in the output; numpy's warnings
    # would add stray lines to stderr, which must hold one line per error.
    given = {"--mu": mu, "--sigma": sigma, "--logvar": logvar, "--mu1": mu1, "--sigma1": sigma1,
             "--cov0": cov0, "--cov1": cov1}
    if run is None and index is not None:
        raise BadInput("--index picks a test image of a run; give --run too")
    if run is not None:
        if index is None:
            raise BadInput("--run needs --index, the test image whose posterior to use")
        clash = next((flag for flag, value in given.items() if value is not None), None)
        if clash is not None:
            raise BadInput(f"--run takes q from the run's encoder and p = N(0, I); give --run or {clash}, not both")
        problem = _posterior_problem(run, index, out_dir, data_dir)
    else:
        problem = None
    with np.errstate(all="ignore"):
        _kl(mu, sigma, logvar, mu1, sigma1, cov0, cov1, samples, seed, json_out, explain, plot, dim, png, problem)


def _posterior_problem(run: str, index: int, out_dir: Path, data_dir: Optional[Path]):
    """q(z|x) of test image `index` under the run's encoder (the one place `aekl kl` imports torch)."""
    from core.nn.posterior import load_posterior

    return load_posterior(run, out_dir, index, data_dir).problem()


def _kl(mu, sigma, logvar, mu1, sigma1, cov0, cov1, samples, seed, json_out, explain, plot, dim, png,
        problem=None) -> None:
    from core.gauss.explain import explain_markdown
    from core.gauss.parse import build_problem, report_for
    from core.present.kltable import direction_lines, kl_table, monte_carlo_lines

    if problem is None:
        try:
            problem = build_problem(mu, sigma, logvar, mu1, sigma1, cov0, cov1)
        except BadInput as exc:
            raise _reword(exc) from None
    report = report_for(problem, samples, seed)
    pic = None
    if plot or png is not None or dim is not None:
        from core.gauss.density import picture, save_png

        pic = picture(problem.q, problem.p, dim)
        if png is not None:
            save_png(pic, png)
    text = explain_markdown(problem.q, problem.p) if explain else None
    if json_out:
        obj = report.to_json()
        if text is not None:
            from core.gauss.explain_more import divergence_values

            obj["explain"] = text  # Markdown source; stdout stays one JSON object
            obj["divergences"] = divergence_values(problem.q, problem.p)  # part (iv)'s numbers
        if pic is not None:
            obj["plot"] = {"dim": pic.j + 1, "area": pic.area, "term": pic.term,
                           "png": None if png is None else str(png)}
        print_json(obj)
        return

    source = problem.inputs.get("posterior")
    if source is not None:
        out.print(Text(f"q = q(z|x) of test image {source['index']} (a {source['digit']}) under run "
                       f"{source['run']}'s encoder; p = the prior N(0, I)"))
    out.print(_rich_table(kl_table(report, max_rows=50)))
    if not problem.diagonal:
        out.print("[dim]With a full covariance KL does not split by dimension.[/]")
    first, second = direction_lines(report)
    out.print(Text(first, style="bold"))
    out.print(Text(second))
    for line in monte_carlo_lines(report):
        out.print(Text(line, style="dim" if line.startswith("  ") else ""))
    if pic is not None:
        from core.gauss.density import caption, terminal

        if plot:
            out.print(_ansi(terminal(pic, width=min(out.width, 120), height=20)))
        out.print(Text(caption(pic)))
        if png is not None:
            out.print(Text(f"saved {png}"))
    if text is not None:
        from rich.markdown import Markdown

        out.print()
        out.print(Markdown(text))


@app.command("kl-demo")
def kl_demo_command(
    weights: str = typer.Option("0.5,0.5", "--weights", help="Mixture weights, > 0 and summing to 1."),
    means: str = typer.Option("-2,2", "--means", help="Means of the mixture's components."),
    spreads: str = typer.Option("0.6,0.6", "--spreads", help="Standard deviations of the components, > 0."),
    png: Optional[Path] = typer.Option(None, "--png", help="Save the picture as a PNG file."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object on stdout and nothing else."),
) -> None:
    """Forward vs reverse KL: fit one Gaussian q to a Gaussian mixture p both ways.

    min KL(q ‖ p) sits on one bump (mode-seeking); min KL(p ‖ q) covers all of
    them with the mixture's mean and variance (moment matching).
    """
    from core.present.numbers import num
    from core.gauss.demo import LABELS, Mixture, optima_sentence, run_demo, save_png, terminal
    from core.gauss.parse import parse_floats

    safe_streams()
    mixture = Mixture.of(parse_floats(weights, "weights"), parse_floats(means, "means"),
                         parse_floats(spreads, "spreads"))
    demo = run_demo(mixture)
    if png is not None:
        save_png(demo, png)
    if json_out:
        print_json({"mixture": {"weights": mixture.weights.tolist(), "means": mixture.means.tolist(),
                                "spreads": mixture.spreads.tolist()},
                    "mode_seeking": {"mean": demo.mode[0], "sigma": demo.mode[1], **demo.table["mode"]},
                    "moment_matching": {"mean": demo.moments[0], "sigma": demo.moments[1], **demo.table["moments"]},
                    "mode_seeking_optima": [{"start_component": o.start + 1,
                                             "start_components": [k + 1 for k in o.starts], "mean": o.m, "sigma": o.s,
                                             "KL(q‖p)": o.kl_qp, "KL(p‖q)": o.kl_pq} for o in demo.optima]})
        return
    out.print(_ansi(terminal(demo, width=min(out.width, 120), height=20)))
    table = Table(title="one Gaussian q fitted to the mixture p", title_justify="left")
    for col in ("fit", "mean", "σ", "KL(q‖p)", "KL(p‖q)"):
        table.add_column(col, justify="right" if col != "fit" else "left")
    for key, (m, s) in (("mode", demo.mode), ("moments", demo.moments)):
        row = demo.table[key]
        table.add_row(LABELS[key], num(m), num(s), num(row["KL(q‖p)"]), num(row["KL(p‖q)"]))
    out.print(table)
    optima = Table(title="local minima of KL(q ‖ p), one search started on each component of p",
                   title_justify="left")
    for col in ("started on", "mean", "σ", "KL(q‖p)", "KL(p‖q)"):
        optima.add_column(col, justify="right")
    for o in demo.optima:
        where = ", ".join(str(k + 1) for k in o.starts)
        optima.add_row(f"component{'s' * (len(o.starts) > 1)} {where}", num(o.m), num(o.s), num(o.kl_qp),
                       num(o.kl_pq))
    out.print(optima)
    out.print(Text(optima_sentence(demo)))
    if png is not None:
        out.print(Text(f"saved {png}"))
