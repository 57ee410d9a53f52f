"""Forward vs reverse KL: fit one Gaussian q to a mixture of Gaussians p.

Minimising KL(q ‖ p) (the VAE's direction) punishes q for putting mass where
p has little, so q sits on one bump: mode-seeking. Minimising KL(p ‖ q)
punishes q for missing mass of p, so q covers every bump: its minimiser is
the mixture's own mean and variance (moment matching, exact).

Expectations are adaptive piecewise Gauss–Legendre integrals (core.gauss.quad)
split at the components' means: ln p of a mixture has complex singularities
near the real axis, which a single Gauss–Hermite rule resolves only to a
percent or so. The entropy of q and E_p[ln q] are exact closed forms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from core.errors import BadInput
from core.gauss.quad import normal_expectation

MAX_COMPONENTS = 10


@dataclass(frozen=True)
class Mixture:
    weights: np.ndarray
    means: np.ndarray
    spreads: np.ndarray  # standard deviations

    @classmethod
    def of(cls, weights: list[float], means: list[float], spreads: list[float]) -> "Mixture":
        """Validated: same lengths, spreads > 0, weights > 0 summing to 1."""
        k = len(means)
        if not 1 <= k <= MAX_COMPONENTS:
            raise BadInput(field="means", rule=f"must have 1 to {MAX_COMPONENTS} components, got {k}")
        for field, values in (("weights", weights), ("spreads", spreads)):
            if len(values) != k:
                raise BadInput(field=field, rule=f"has {len(values)} value{'s' * (len(values) != 1)} "
                                                 f"but there {'are' if k != 1 else 'is'} {k} mean{'s' * (k != 1)}")
        if any(not s > 0 for s in spreads):
            raise BadInput(field="spreads", rule=f"must all be > 0, got {', '.join(f'{s:g}' for s in spreads)}")
        if any(not w > 0 for w in weights):
            raise BadInput(field="weights", rule=f"must all be > 0, got {', '.join(f'{w:g}' for w in weights)}")
        if abs(sum(weights) - 1.0) > 1e-6:
            raise BadInput(field="weights", rule=f"must sum to 1, got a sum of {sum(weights):g}")
        scale = max(abs(m) for m in means) + max(spreads)
        if scale > 1e100 or min(spreads) < 1e-100:
            raise BadInput(field="spreads", rule="and means must lie within 1e-100 to 1e100")
        # float64 cannot place quadrature points closer than ~1e-16·|x| apart
        if any(s < 1e-9 * abs(m) for m, s in zip(means, spreads)):
            raise BadInput(field="spreads", rule="must each be at least 1e-9 times the size of their mean "
                                                 "(float64 cannot resolve a narrower bump there)")
        return cls(np.array(weights) / sum(weights), np.array(means, float), np.array(spreads, float))

    def log_density(self, x: np.ndarray) -> np.ndarray:
        z = (x[..., None] - self.means) / self.spreads
        logs = np.log(self.weights) - 0.5 * z * z - np.log(self.spreads) - 0.5 * math.log(2 * math.pi)
        top = logs.max(-1)
        return top + np.log(np.exp(logs - top[..., None]).sum(-1))

    def score(self, x: np.ndarray) -> np.ndarray:
        """d/dx ln p(x): responsibilities times each component's pull."""
        z = (x[..., None] - self.means) / self.spreads
        logs = np.log(self.weights) - 0.5 * z * z - np.log(self.spreads)
        r = np.exp(logs - logs.max(-1, keepdims=True))
        r /= r.sum(-1, keepdims=True)
        return (r * (self.means - x[..., None]) / self.spreads ** 2).sum(-1)

    @property
    def mean(self) -> float:
        return float(self.weights @ self.means)

    @property
    def variance(self) -> float:
        m = self.mean
        return float(self.weights @ (self.spreads ** 2 + (self.means - m) ** 2))


LOG_2PI = math.log(2 * math.pi)


def _log_normal(x, m: float, s: float):
    return -0.5 * ((x - m) / s) ** 2 - math.log(s) - 0.5 * LOG_2PI


def kl_q_p(m: float, s: float, p: Mixture) -> float:
    """KL(N(m, s²) ‖ p) = −H(q) − E_q[ln p]; H(q) = ½ ln(2πe s²) exactly."""
    cross = normal_expectation(p.log_density, m, s, p.means)
    return max(0.0, float(-0.5 - math.log(s) - 0.5 * LOG_2PI - cross))  # KL ≥ 0: below it is rounding


def neg_entropy(p: Mixture) -> float:
    """E_p[ln p] = Σ_k w_k E_{N_k}[ln p], each by quadrature split at every mean."""
    return float(sum(w * normal_expectation(p.log_density, mk, sk, p.means)
                     for w, mk, sk in zip(p.weights, p.means, p.spreads)))


def kl_p_q(p: Mixture, m: float, s: float, neg_h: float | None = None) -> float:
    """KL(p ‖ N(m, s²)) = E_p[ln p] − E_p[ln q], the second in closed form:
    E_p[ln q] = −ln s − ½ ln 2π − (Var_p + (E_p − m)²)/(2s²)."""
    neg_h = neg_entropy(p) if neg_h is None else neg_h
    cross = -math.log(s) - 0.5 * LOG_2PI - (p.variance + (p.mean - m) ** 2) / (2 * s * s)
    return max(0.0, neg_h - cross)  # KL ≥ 0: a p equal to q gives −2e-16 by rounding


def fit_moments(p: Mixture) -> tuple[float, float]:
    """argmin KL(p ‖ q): E_p[ln q] = −ln s − E_p[(x − m)²]/(2s²) + const is
    largest at m = E_p[x] and s² = Var_p[x]."""
    return p.mean, math.sqrt(p.variance)


def mode_gradient(m: float, s: float, p: Mixture) -> np.ndarray:
    """∇ of KL(q ‖ p) in (m, ln s): KL = −ln s − E[ln p(m + s ε)] + const, so
    ∂/∂m = −E_q[score] and ∂/∂ln s = −1 − E_q[score(x) (x − m)]."""
    gm = normal_expectation(p.score, m, s, p.means)
    gs = normal_expectation(lambda x: p.score(x) * (x - m), m, s, p.means)
    return np.array([-gm, -1.0 - gs])


def _local_minimum(p: Mixture, m: float, s: float, steps: int = 200) -> tuple[float, float]:
    """Damped Newton on (m, ln s) from (m, s): the Hessian by central differences
    of the exact gradient, a gradient step when it is not positive definite,
    and backtracking on the accurate objective."""
    theta = np.array([m, math.log(s)])
    value = kl_q_p(m, s, p)
    for _ in range(steps):
        g = mode_gradient(theta[0], math.exp(theta[1]), p)
        # In units of q's own σ, and no finer than x = m + σt can be resolved
        # (an ulp of m is |m|/σ ulps of t): below that the gradient is rounding
        # noise, and chasing it took minutes for a narrow bump far from 0.
        width = math.exp(theta[1])
        if np.abs(g * np.array([width, 1.0])).max() < 1e-11 * (1.0 + abs(theta[0]) / width):
            break
        h = 1e-5 * np.array([math.exp(theta[1]), 1.0])
        H = np.stack([(mode_gradient(*_ms(theta + h[i] * e), p) - mode_gradient(*_ms(theta - h[i] * e), p))
                      / (2 * h[i]) for i, e in enumerate(np.eye(2))])
        H = 0.5 * (H + H.T)
        try:
            direction = -np.linalg.solve(H, g) if np.linalg.eigvalsh(H).min() > 0 else None
        except np.linalg.LinAlgError:
            direction = None
        if direction is None:
            direction = -g * np.array([math.exp(2 * theta[1]), 1.0])
        step = 1.0
        while step > 1e-12:
            trial = theta + step * direction
            new = kl_q_p(*_ms(trial), p)
            if new <= value + 1e-4 * step * float(g @ direction) + 1e-15 * abs(value):
                break
            step /= 2
        else:
            break
        theta, value = trial, new
    return _ms(theta)


def _ms(theta) -> tuple[float, float]:
    return float(theta[0]), math.exp(float(theta[1]))


@dataclass(frozen=True)
class Optimum:
    start: int  # 0-based component the search started on
    m: float
    s: float
    kl_qp: float  # KL(q ‖ p), the objective
    kl_pq: float
    starts: tuple[int, ...] = ()  # every 0-based component whose search ended here


def mode_optima(p: Mixture) -> list[Optimum]:
    """The local minima of KL(q ‖ p) reached from q = each component; a
    minimum reached from two starts is listed once. Sorted by KL(q ‖ p)."""
    neg_h = neg_entropy(p)
    found: list[Optimum] = []
    for k, (mk, sk) in enumerate(zip(p.means, p.spreads)):
        m, s = _local_minimum(p, float(mk), float(sk))
        same = next((i for i, o in enumerate(found) if abs(o.m - m) <= 1e-6 * s and abs(o.s - s) <= 1e-6 * s), None)
        if same is not None:
            found[same] = replace(found[same], starts=(*found[same].starts, k))
            continue
        found.append(Optimum(k, m, s, kl_q_p(m, s, p), kl_p_q(p, m, s, neg_h), (k,)))
    # equal to 10 digits counts as a tie (a symmetric mixture's two minima differ
    # only by rounding): then the first component's search is listed first
    return sorted(found, key=lambda o: (float(f"{o.kl_qp:.10g}"), o.start))


def fit_mode(p: Mixture) -> tuple[float, float]:
    """argmin KL(q ‖ p) among the local minima reached from each component."""
    best = mode_optima(p)[0]
    return best.m, best.s


@dataclass(frozen=True)
class Demo:
    p: Mixture
    mode: tuple[float, float]  # (m, s) minimising KL(q ‖ p) (the best local minimum)
    moments: tuple[float, float]  # (m, s) minimising KL(p ‖ q)
    table: dict[str, dict[str, float]]  # fit -> {"KL(q‖p)": ., "KL(p‖q)": .}
    x: np.ndarray
    density: dict[str, np.ndarray]  # "p", "mode", "moments" on x
    optima: tuple[Optimum, ...] = ()  # every local minimum of KL(q ‖ p) found, best first


def run_demo(p: Mixture) -> Demo:
    """Both fits, every local minimum of KL(q ‖ p), and the curves to draw.
    Cached by the mixture's numbers: the app asks again on every keystroke."""
    return _demo_of(tuple(p.weights.tolist()), tuple(p.means.tolist()), tuple(p.spreads.tolist()))


@lru_cache(maxsize=32)
def _demo_of(weights: tuple, means: tuple, spreads: tuple) -> Demo:
    p = Mixture(np.array(weights), np.array(means), np.array(spreads))
    optima = mode_optima(p)
    mode, moments = (optima[0].m, optima[0].s), fit_moments(p)
    neg_h = neg_entropy(p)
    table = {"mode": {"KL(q‖p)": optima[0].kl_qp, "KL(p‖q)": optima[0].kl_pq},
             "moments": {"KL(q‖p)": kl_q_p(*moments, p), "KL(p‖q)": kl_p_q(p, *moments, neg_h)}}
    lo = min(p.means - 4 * p.spreads)
    hi = max(p.means + 4 * p.spreads)
    x = np.linspace(lo, hi, 801)
    density = {"p": np.exp(p.log_density(x)),
               "mode": np.exp(_log_normal(x, *mode)), "moments": np.exp(_log_normal(x, *moments))}
    return Demo(p, mode, moments, table, x, density, tuple(optima))


def optima_sentence(demo: Demo) -> str:
    """What the list of local minima of KL(q ‖ p) means for the reader."""
    if len(demo.optima) == 1:
        return ("One local minimum of KL(q ‖ p) found: the searches started on every component "
                "of p arrive at the same q, so here the fit does not depend on where it starts.")
    return (f"KL(q ‖ p) has {len(demo.optima)} local minima here, each reached by a search started on a "
            "different component of p: which q you get depends on where the fit starts. The table's "
            "mode-seeking row is the one with the smallest KL(q ‖ p) "
            "(the first listed when they tie).")


LABELS = {"p": "p (mixture)", "mode": "q: min KL(q‖p), mode-seeking", "moments": "q: min KL(p‖q), moment matching"}


def draw(plt, demo: Demo, width: int | None = None, height: int | None = None) -> None:
    """On a plotext-like API (plotext itself, or a PlotextPlot's .plt)."""
    plt.clear_figure()
    if width and height:
        plt.plotsize(width, height)
    step = max(1, len(demo.x) // 200)
    x = demo.x[::step].tolist()
    # p in the terminal's own text colour: white would vanish on a light background
    for key, colour in (("p", "default"), ("mode", "cyan"), ("moments", "orange")):
        plt.plot(x, demo.density[key][::step].tolist(), label=LABELS[key], color=colour)
    plt.title("one Gaussian fitted to a mixture, both ways")


def terminal(demo: Demo, width: int = 80, height: int = 20) -> str:
    from core.gauss.density import plotext_text

    return plotext_text(draw, demo, width, height)


def save_png(demo: Demo, path) -> object:
    from matplotlib.figure import Figure

    from core.gauss.density import save_figure

    fig = Figure(figsize=(7.0, 4.2))
    ax = fig.add_subplot()
    ax.fill_between(demo.x, demo.density["p"], color="grey", alpha=0.3)
    for key, colour in (("p", "black"), ("mode", "tab:blue"), ("moments", "tab:orange")):
        ax.plot(demo.x, demo.density[key], color=colour, label=LABELS[key])
    ax.set_title("Forward vs reverse KL")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
