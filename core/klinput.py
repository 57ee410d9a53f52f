"""Turn what a person typed into two Gaussians, and compute what `aekl kl`
(and the TUI's KL screen) show about them.

Every problem with the input becomes a BadInput whose one-line message names
the offending option, so the CLI and the TUI report it the same way.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from core.config import MAX_SAMPLES, MAX_SEED, check_range
from core.errors import BadInput
from core.kl import Gaussian, kl, kl_diag_terms, kl_monte_carlo

# Option names as the CLI spells them; the TUI may pass its own labels.
NAMES = {k: f"--{k}" for k in ("mu", "sigma", "logvar", "mu1", "sigma1", "cov0", "cov1")}


def parse_floats(value: str | float | Sequence[float], name: str) -> list[float]:
    """'0.5, 1' (or '[0.5, 1]', a number, a list) -> finite floats."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        items: list[Any] = [value]
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1].strip()
        if not text:
            raise BadInput(f"{name} is empty")
        items = [piece.strip() for piece in text.split(",")]
    else:
        items = list(value)
        if not items:
            raise BadInput(f"{name} is empty")
    out = []
    for i, item in enumerate(items):
        if item == "":
            raise BadInput(f"{name} has an empty entry at position {i + 1} in {value!r}")
        try:
            x = float(item)
        except (TypeError, ValueError):
            raise BadInput(f"{name}: {item!r} is not a number") from None
        if not math.isfinite(x):
            raise BadInput(f"{name}: {item!r} is not a finite number")
        out.append(x)
    return out


def check_sigma(values: list[float], name: str) -> list[float]:
    """Standard deviations must be > 0 and their squares representable."""
    for x in values:
        if x <= 0:
            raise BadInput(f"{name} must be > 0, got {x:g}")
        if not 0 < x * x < math.inf:
            raise BadInput(f"{name}: {x:g} is out of range (its square is not a usable variance)")
    return values


def check_logvar(values: list[float], name: str) -> list[float]:
    """Any finite log-variance is fine as long as e^lv neither overflows nor
    underflows to 0 (sampling and the reverse KL need the variance itself)."""
    for x in values:
        # e^x is a positive finite float64 only for about -745 < x < 709.78.
        if not -745.0 < x < 709.7:
            raise BadInput(f"{name}: {x:g} is out of range (e^{x:g} is not a usable variance)")
    return values


def _check_numbers(value: Any, name: str, depth: int = 0) -> None:
    """JSON must hold only numbers (json.loads gives bools and strings too),
    in a list of variances or of rows: nothing deeper than a matrix."""
    if isinstance(value, list):
        if depth == 2:
            raise BadInput(f"{name}: lists nested deeper than rows of a matrix")
        for v in value:
            _check_numbers(v, name, depth + 1)
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadInput(f"{name}: {value!r} is not a number")


def load_matrix(value: str, name: str) -> torch.Tensor:
    """A covariance from inline JSON ('[[2, 0.5], [0.5, 1]]'), a .json file
    or a .npy file. Shape and positive definiteness are checked later,
    once the dimension is known."""
    text = value.strip()
    if not text:
        raise BadInput(f"{name} is empty")
    if text.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{name}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        except RecursionError:
            raise BadInput(f"{name}: lists nested deeper than rows of a matrix") from None
    else:
        try:
            path = Path(text).expanduser()
        except RuntimeError:  # ~nosuchuser/...
            raise BadInput(f"{name}: {text!r} starts with a home folder that does not exist") from None
        try:
            exists = path.exists()
        except OSError as exc:  # a name too long for the filesystem, say
            raise BadInput(f"{name}: cannot use {text!r} ({exc.strerror or exc})") from None
        if not exists:
            raise BadInput(f"{name}: no such file {text!r}")
        if not path.is_file():
            raise BadInput(f"{name}: {text!r} is not a file")
        if path.suffix.lower() == ".npy":
            import numpy as np

            try:
                arr = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise BadInput(f"{name}: cannot read {text!r} as .npy ({exc})") from None
            if arr.dtype.kind not in "iuf":
                raise BadInput(f"{name}: {text!r} holds {arr.dtype} values, not numbers")
            return torch.as_tensor(arr.astype("float64"))
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise BadInput(f"{name}: cannot read {text!r} ({exc.strerror or exc})") from None
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise BadInput(f"{name}: {text!r} is not a JSON matrix (use .npy for binary files)") from None
    if not isinstance(data, list):
        raise BadInput(f"{name} must be a JSON list of rows or of variances")
    _check_numbers(data, name)
    try:
        return torch.tensor(data, dtype=torch.float64)
    except (ValueError, TypeError):
        raise BadInput(f"{name}: rows have different lengths") from None


def _size(name: str, t: list | torch.Tensor) -> str:
    if isinstance(t, torch.Tensor) and t.ndim == 2:
        return f"{name} is {t.shape[0]}x{t.shape[1]}"
    n = len(t) if isinstance(t, list) else t.shape[0] if t.ndim else 1
    return f"{name} has {n} value{'s' if n != 1 else ''}"


def _dimension(vectors: dict[str, list[float]], matrices: dict[str, torch.Tensor]) -> int:
    """The common dimension k. Vectors of length 1 broadcast; covariances
    never do (a 1x1 covariance with a 2-D mean is more likely a mistake)."""
    fixed: list[tuple[str, int, Any]] = [(n, len(v), v) for n, v in vectors.items() if len(v) != 1]
    fixed += [(n, m.shape[0] if m.ndim else 1, m) for n, m in matrices.items()]
    if not fixed:
        return 1
    name0, k, v0 = fixed[0]
    for name, n, v in fixed[1:]:
        if n != k:
            raise BadInput(f"{_size(name, v)} but {_size(name0, v0)}")
    return k


@dataclass(frozen=True)
class KLProblem:
    """q (the first Gaussian) and p (N(0, I) unless a second one was given);
    the quantity of interest is KL(q ‖ p)."""

    q: Gaussian
    p: Gaussian
    inputs: dict = field(default_factory=dict)  # what was given, JSON-ready

    @property
    def p_is_standard(self) -> bool:
        p = self.p
        return p.is_diag and not p.mean.any() and not p.log_variances.any()

    @property
    def diagonal(self) -> bool:
        return self.q.is_diag and self.p.is_diag


def build_problem(mu: str | None = "0", sigma: str | None = None, logvar: str | None = None,
                  mu1: str | None = None, sigma1: str | None = None,
                  cov0: str | None = None, cov1: str | None = None,
                  names: Mapping[str, str] | None = None) -> KLProblem:
    """Validate the raw option values and build both Gaussians."""
    n = {**NAMES, **(names or {})}
    if sigma is not None and logvar is not None:
        raise BadInput(f"give {n['sigma']} or {n['logvar']}, not both")
    if cov0 is not None and (sigma is not None or logvar is not None):
        raise BadInput(f"{n['cov0']} replaces {n['sigma']}/{n['logvar']}; give one of them")
    if cov1 is not None and sigma1 is not None:
        raise BadInput(f"{n['cov1']} replaces {n['sigma1']}; give one of them")

    vectors = {n["mu"]: parse_floats("0" if mu is None else mu, n["mu"])}
    if logvar is not None:
        vectors[n["logvar"]] = check_logvar(parse_floats(logvar, n["logvar"]), n["logvar"])
    elif cov0 is None:
        vectors[n["sigma"]] = check_sigma(parse_floats("1" if sigma is None else sigma, n["sigma"]), n["sigma"])
    if mu1 is not None:
        vectors[n["mu1"]] = parse_floats(mu1, n["mu1"])
    if sigma1 is not None:
        vectors[n["sigma1"]] = check_sigma(parse_floats(sigma1, n["sigma1"]), n["sigma1"])
    matrices = {}
    if cov0 is not None:
        matrices[n["cov0"]] = load_matrix(cov0, n["cov0"])
    if cov1 is not None:
        matrices[n["cov1"]] = load_matrix(cov1, n["cov1"])
    k = _dimension(vectors, matrices)

    def vec(name: str, default: float = 0.0) -> torch.Tensor:
        values = vectors.get(name, [default])
        return torch.tensor(values * k if len(values) == 1 else values, dtype=torch.float64)

    if cov0 is not None:
        q = Gaussian.full(vec(n["mu"]), matrices[n["cov0"]], n["cov0"])
    elif logvar is not None:
        q = Gaussian.diag(vec(n["mu"]), logvar=vec(n["logvar"]))
    else:
        q = Gaussian.diag(vec(n["mu"]), sigma=vec(n["sigma"], 1.0))
    if cov1 is not None:
        p = Gaussian.full(vec(n["mu1"]), matrices[n["cov1"]], n["cov1"])
    else:
        p = Gaussian.diag(vec(n["mu1"]), sigma=vec(n["sigma1"], 1.0))
    inputs = {"q": describe(q, given_logvar=logvar is not None), "p": describe(p)}
    return KLProblem(q, p, inputs)


def describe(g: Gaussian, given_logvar: bool = False) -> dict:
    """A Gaussian as plain lists for JSON."""
    d: dict[str, Any] = {"mu": g.mean.tolist()}
    if g.is_diag:
        d["sigma"] = torch.exp(0.5 * g.log_variances).tolist()
        if given_logvar:
            d["logvar"] = g.log_variances.tolist()
    else:
        d["cov"] = g.cov.tolist()
    return d


@dataclass(frozen=True)
class KLReport:
    """Everything `aekl kl` prints: per-dim terms (diagonal pairs only, else
    None), both directions, and the Monte Carlo check of KL(q ‖ p)."""

    problem: KLProblem
    terms: list[float] | None  # KL(q ‖ p) per dimension
    reverse_terms: list[float] | None  # KL(p ‖ q) per dimension
    total: float  # KL(q ‖ p)
    reverse: float  # KL(p ‖ q)
    mc_estimate: float | None
    mc_stderr: float | None
    samples: int
    seed: int

    def to_json(self) -> dict:
        return {
            "inputs": self.problem.inputs,
            "diagonal": self.problem.diagonal,
            "terms": self.terms,
            "reverse_terms": self.reverse_terms,
            "total": self.total,
            "reverse": self.reverse,
            "mc": None if self.mc_estimate is None else {
                "estimate": self.mc_estimate, "stderr": self.mc_stderr,
                "samples": self.samples, "seed": self.seed,
            },
        }


def evaluate(problem: KLProblem, samples: int = 100_000, seed: int = 0) -> KLReport:
    """Compute both directions and the Monte Carlo check (skipped when
    samples is 0)."""
    if samples < 0 or samples == 1:
        raise BadInput(field="samples", value=samples, rule="must be 0 (no Monte Carlo) or at least 2")
    check_range("samples", samples, 0, MAX_SAMPLES)
    check_range("seed", seed, 0, MAX_SEED)
    q, p = problem.q, problem.p
    terms = reverse_terms = None
    if problem.diagonal:
        lq, lp = q.log_variances, p.log_variances
        terms = kl_diag_terms(q.mean, lq, p.mean, lp).terms.tolist()
        reverse_terms = kl_diag_terms(p.mean, lp, q.mean, lq).terms.tolist()
    total, reverse = float(kl(q, p)), float(kl(p, q))
    if not (math.isfinite(total) and math.isfinite(reverse)):
        raise BadInput("the KL divergence overflows float64 for these values; use smaller means or spreads")
    mc = kl_monte_carlo(q, p, samples, seed) if samples else (None, None)
    if samples and not all(math.isfinite(x) for x in mc):
        mc = (None, None)  # squared log-ratios overflow; the CLI says so
    return KLReport(problem, terms, reverse_terms, total, reverse, mc[0], mc[1], samples, seed)
