"""Pictures of KL(q ‖ p): for one dimension j, the marginal densities q_j and
p_j and the integrand q_j ln(q_j/p_j), whose area is that dimension's term;
for d = 2, the 1σ and 2σ ellipses of both Gaussians.

`draw(plt, picture)` works on plotext's module-level API, which is also
what textual-plotext's widget exposes as `.plt`, so `aekl kl --plot` and the
TUI draw with the same code. `save_png` draws the same figure with
matplotlib at full resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import BadInput
from core.gauss.kl import Gaussian, kl
from core.gauss.quad import normal_expectation


@dataclass(frozen=True)
class Picture:
    j: int  # 0-based dimension shown
    x: np.ndarray
    q: np.ndarray  # marginal density of q at x
    p: np.ndarray
    integrand: np.ndarray  # q ln(q/p)
    area: float  # area under the integrand by adaptive quadrature, ≈ term
    term: float  # exact KL of the two marginals (the per-dimension term for diagonals)
    is_term: bool  # True when `term` is a term of the total (both diagonal)
    ellipses: dict[str, list[np.ndarray]] | None  # d = 2: {"q": [1σ (2, n), 2σ], "p": [...]}


def marginal(g: Gaussian, j: int) -> Gaussian:
    return Gaussian.diag(g.mean[j:j + 1], logvar=g.log_variances[j:j + 1])


def largest_dimension(q: Gaussian, p: Gaussian) -> int:
    """The dimension with the largest marginal KL (the largest term for diagonals)."""
    terms = [kl(marginal(q, j), marginal(p, j)) for j in range(q.dim)]
    return int(np.argmax(terms))


def choose_dimension(q: Gaussian, p: Gaussian, dim: int | None) -> int:
    """`dim` is 1-based as the tables print it; None picks the largest term."""
    if dim is None:
        return largest_dimension(q, p)
    if not 1 <= dim <= q.dim:
        raise BadInput(field="dim", rule=f"must be between 1 and {q.dim}, got {dim}")
    return dim - 1


def ellipse(g: Gaussian, k: float, n: int = 120) -> np.ndarray:
    """Points (2, n) of {μ + k L u : ‖u‖ = 1}, the k-σ contour of a 2-D Gaussian."""
    t = np.linspace(0.0, 2 * math.pi, n)
    L = np.linalg.cholesky(g.matrix())
    return g.mean[:, None] + k * L @ np.stack([np.cos(t), np.sin(t)])


def picture(q: Gaussian, p: Gaussian, dim: int | None = None, points: int = 2001) -> Picture:
    j = choose_dimension(q, p, dim)
    qj, pj = marginal(q, j), marginal(p, j)
    sq, sp = math.exp(0.5 * qj.log_variances[0]), math.exp(0.5 * pj.log_variances[0])
    # The area is an adaptive integral in q's own units, x = μ0 + σ0 t, split
    # at p's mean: a q far narrower than p still gets its points. The
    # integrand is written in t, never forming x, which float64 could not
    # resolve for a q much narrower than its distance from 0.
    half_lv = 0.5 * float(qj.log_variances[0] - pj.log_variances[0])  # ln(σ0/σ1), exact
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        shift = float((qj.mean[0] - pj.mean[0]) * math.exp(-0.5 * float(pj.log_variances[0])))
        ratio = float(np.exp(half_lv))  # σ0/σ1; 0 or inf only where the term is beyond float64 anyway

        def log_ratio(t: np.ndarray) -> np.ndarray:  # ln q − ln p at x = μ0 + σ0 t
            d = shift + ratio * t
            return 0.5 * (d * d - t * t) - half_lv

        area = normal_expectation(log_ratio, 0.0, 1.0, [-shift / ratio] if 0 < ratio < math.inf else [])
    if math.isnan(area):
        area = math.inf  # inf − inf inside: the term overflows float64 too
    # Draw ±4σ of q and the bulk of p, with half the points on q alone so that
    # a narrow q is drawn too.
    lo = min(qj.mean[0] - 4 * sq, pj.mean[0] - 3 * sp)
    hi = max(qj.mean[0] + 4 * sq, pj.mean[0] + 3 * sp)
    x = np.unique(np.concatenate([np.linspace(lo, hi, points // 2),
                                  np.linspace(qj.mean[0] - 4 * sq, qj.mean[0] + 4 * sq, points - points // 2)]))
    with np.errstate(all="ignore"):  # extreme inputs draw what float64 can; the area above is exact
        lq, lp = qj.log_density_1d(0, x), pj.log_density_1d(0, x)
        dq, dp = np.exp(lq), np.exp(lp)
        integrand = np.where(dq > 0, dq * (lq - lp), 0.0)  # q ln(q/p) -> 0 where q vanishes, even if p does
    ellipses = None
    if q.dim == 2:
        ellipses = {"q": [ellipse(q, 1), ellipse(q, 2)], "p": [ellipse(p, 1), ellipse(p, 2)]}
    return Picture(j, x, dq, dp, integrand, area, kl(qj, pj), q.is_diag and p.is_diag, ellipses)


def caption(pic: Picture) -> str:
    what = "term" if pic.is_term else "KL of the marginals (not a term: a full covariance does not split)"
    from core.present.numbers import num

    return f"dimension {pic.j + 1}: area under q ln(q/p) = {num(pic.area)} ≈ {what} {num(pic.term)}"


def draw(plt, pic: Picture, width: int | None = None, height: int | None = None) -> None:
    """Draw on a plotext-like API: densities and integrand, and for d = 2
    the ellipses beside them (the app draws each in a panel of its own)."""
    _clear_all(plt)
    if width and height:
        plt.plotsize(width, height)
    if pic.ellipses is not None:
        plt.subplots(1, 2)
        plt.subplot(1, 1)
    draw_densities(plt, pic)
    if pic.ellipses is not None:
        plt.subplot(1, 2)
        draw_ellipses(plt, pic)


def draw_densities(plt, pic: Picture) -> None:
    """q_j, p_j and the integrand q ln(q/p) of the dimension shown."""
    step = max(1, len(pic.x) // 200)  # terminal cells are coarse; fewer points draw faster
    x = pic.x[::step]
    for values, label, colour in ((pic.q, "q", "cyan"), (pic.p, "p", "orange"), (pic.integrand, "q ln(q/p)", "red")):
        y = values[::step]
        keep = np.isfinite(x) & np.isfinite(y)  # plotext fails on inf and nan; extreme inputs give some
        plt.plot(x[keep].tolist(), y[keep].tolist(), label=label, color=colour)
    plt.title(f"dim {pic.j + 1}: area {pic.area:.4g}")


def draw_ellipses(plt, pic: Picture) -> None:
    """The 1σ and 2σ contours of q and p (d = 2 only; nothing otherwise)."""
    if pic.ellipses is None:
        return
    for who, colour in (("q", "cyan"), ("p", "orange")):
        for k, curve in enumerate(pic.ellipses[who], start=1):
            plt.plot(curve[0].tolist(), curve[1].tolist(), color=colour,
                     label=f"{who} {k}σ" if k == 1 else None)
    plt.title("1σ and 2σ ellipses")


def terminal(pic: Picture, width: int = 80, height: int = 20) -> str:
    """The picture as text for a terminal (ANSI colours)."""
    return plotext_text(draw, pic, width, height)


def plotext_text(draw_on, thing, width: int, height: int) -> str:
    """Run `draw_on(plt, thing, width, height)` on plotext's global figure and
    return the text it builds, leaving the figure clear for the next caller."""
    import plotext as plt

    _clear_all(plt)
    draw_on(plt, thing, width, height)
    text = plt.build()
    _clear_all(plt)
    return text


def _clear_all(plt) -> None:
    """Clear the whole figure, not only its active panel: plotext's clear_figure
    clears the panel last drawn on, so a 2-D picture's two panels would stay and
    the next call's subplots() nest inside the second, finer each time, until
    plotext's line drawing loops for minutes on a panel narrower than a cell."""
    if hasattr(plt, "main"):
        plt.main()  # the top-level figure active again
    plt.clear_figure() if hasattr(plt, "clear_figure") else plt.clf()


def save_png(pic: Picture, path: Path) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11.0, 4.2) if pic.ellipses is not None else (6.4, 4.2))
    ax = fig.add_subplot(1, 2 if pic.ellipses is not None else 1, 1)
    ax.plot(pic.x, pic.q, label="q", color="tab:blue")
    ax.plot(pic.x, pic.p, label="p", color="tab:orange")
    ax.plot(pic.x, pic.integrand, label="q ln(q/p)", color="tab:red")
    ax.fill_between(pic.x, pic.integrand, color="tab:red", alpha=0.2)
    ax.axhline(0.0, color="black", lw=0.5)
    ax.set_xlabel(f"x_{pic.j + 1}")
    ax.set_title(caption(pic), fontsize=8)
    ax.legend()
    if pic.ellipses is not None:
        ax2 = fig.add_subplot(1, 2, 2)
        for who, colour in (("q", "tab:blue"), ("p", "tab:orange")):
            for k, curve in enumerate(pic.ellipses[who], start=1):
                ax2.plot(curve[0], curve[1], color=colour, ls="-" if k == 1 else "--", label=f"{who} {k}σ")
        ax2.set_aspect("equal", adjustable="datalim")
        ax2.set_title("1σ and 2σ ellipses")
        ax2.legend()
    fig.tight_layout()
    return save_figure(fig, path)


def save_figure(fig, path: Path) -> Path:
    """Write a PNG where the user asked; only a new file or an existing .png
    is written (aekl overwrites nothing else), never through a link."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    path = Path(path).expanduser()
    if path.exists() and path.suffix.lower() != ".png" and path.is_file():
        raise BadInput(field="png", rule=f"names {str(path)!r}, an existing file that is not a .png")
    if path.parent and not path.parent.is_dir():
        raise BadInput(field="png", rule=f"names a folder that does not exist: {str(path.parent)!r}")
    if path.is_dir() or path.is_symlink():
        raise BadInput(field="png", rule=f"names {str(path)!r}, which is a folder or a link")
    try:
        fig.savefig(path, format="png", dpi=130)
    except OSError as exc:
        raise BadInput(field="png", rule=f"cannot be written: {exc.strerror or exc}") from None
    return path
