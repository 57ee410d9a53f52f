"""Forward vs reverse KL: fit one Gaussian q to a mixture of Gaussians p.

Minimising KL(q ‖ p) (the VAE's direction) punishes q for putting mass where
p has little, so q sits on one bump: mode-seeking. Minimising KL(p ‖ q)
punishes q for missing mass of p, so q covers every bump: its minimiser is
the mixture's own mean and variance (moment matching, exact).

Expectations under a Gaussian are Gauss–Hermite sums (the integrands are
smooth), so both KLs of both fits are accurate to many digits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.errors import BadInput

NODES, WEIGHTS = np.polynomial.hermite_e.hermegauss(120)
WEIGHTS = WEIGHTS / math.sqrt(2 * math.pi)  # E[f(ε)], ε ~ N(0, 1) ≈ Σ w_i f(x_i)
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


def _log_normal(x, m: float, s: float):
    return -0.5 * ((x - m) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)


def kl_q_p(m: float, s: float, p: Mixture) -> float:
    """KL(N(m, s²) ‖ p) = E_q[ln q − ln p]."""
    x = m + s * NODES
    return float(WEIGHTS @ (_log_normal(x, m, s) - p.log_density(x)))


def kl_p_q(p: Mixture, m: float, s: float) -> float:
    """KL(p ‖ N(m, s²)) = Σ_k w_k E_{N_k}[ln p − ln q]."""
    total = 0.0
    for w, mk, sk in zip(p.weights, p.means, p.spreads):
        x = mk + sk * NODES
        total += w * float(WEIGHTS @ (p.log_density(x) - _log_normal(x, m, s)))
    return total


def fit_moments(p: Mixture) -> tuple[float, float]:
    """argmin KL(p ‖ q): E_p[ln q] = −ln s − E_p[(x − m)²]/(2s²) + const is
    largest at m = E_p[x] and s² = Var_p[x]."""
    return p.mean, math.sqrt(p.variance)


def fit_mode(p: Mixture, steps: int = 400) -> tuple[float, float]:
    """argmin KL(q ‖ p) by gradient descent on (m, ln s) with backtracking,
    started on each component; the best local minimum wins.

    KL(q ‖ p) = −ln s − E[ln p(m + s ε)] + const, so the gradient is
    −E[score(x)] in m and −1 − s E[score(x) ε] in ln s.
    """
    best = None
    for m, s in zip(p.means, p.spreads):
        theta = np.array([m, math.log(s)])
        value = kl_q_p(theta[0], math.exp(theta[1]), p)
        for _ in range(steps):
            s = math.exp(theta[1])
            g_score = p.score(theta[0] + s * NODES)
            grad = np.array([-WEIGHTS @ g_score, -1.0 - s * WEIGHTS @ (g_score * NODES)])
            step = s * s  # natural scale of the problem: a step of about one variance
            while step > 1e-14:
                trial = theta - step * grad
                new = kl_q_p(trial[0], math.exp(trial[1]), p)
                if new <= value - 1e-4 * step * float(grad @ grad):
                    break
                step /= 2
            else:
                break
            theta, value = trial, new
            if abs(grad).max() < 1e-10:
                break
        if best is None or value < best[0]:
            best = (value, float(theta[0]), math.exp(theta[1]))
    return best[1], best[2]


@dataclass(frozen=True)
class Demo:
    p: Mixture
    mode: tuple[float, float]  # (m, s) minimising KL(q ‖ p)
    moments: tuple[float, float]  # (m, s) minimising KL(p ‖ q)
    table: dict[str, dict[str, float]]  # fit -> {"KL(q‖p)": ., "KL(p‖q)": .}
    x: np.ndarray
    density: dict[str, np.ndarray]  # "p", "mode", "moments" on x


def run_demo(p: Mixture) -> Demo:
    mode, moments = fit_mode(p), fit_moments(p)
    table = {name: {"KL(q‖p)": kl_q_p(m, s, p), "KL(p‖q)": kl_p_q(p, m, s)}
             for name, (m, s) in (("mode", mode), ("moments", moments))}
    lo = min(p.means - 4 * p.spreads)
    hi = max(p.means + 4 * p.spreads)
    x = np.linspace(lo, hi, 801)
    density = {"p": np.exp(p.log_density(x)),
               "mode": np.exp(_log_normal(x, *mode)), "moments": np.exp(_log_normal(x, *moments))}
    return Demo(p, mode, moments, table, x, density)


LABELS = {"p": "p (mixture)", "mode": "q: min KL(q‖p), mode-seeking", "moments": "q: min KL(p‖q), moment matching"}


def draw(plt, demo: Demo, width: int | None = None, height: int | None = None) -> None:
    """On a plotext-like API (plotext itself, or a PlotextPlot's .plt)."""
    plt.clear_figure()
    if width and height:
        plt.plotsize(width, height)
    step = max(1, len(demo.x) // 200)
    x = demo.x[::step].tolist()
    for key, colour in (("p", "white"), ("mode", "cyan"), ("moments", "orange")):
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
