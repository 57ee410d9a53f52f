"""Turn what a person typed into two Gaussians, and compute what `aekl kl`
(and the TUI's KL screen) show about them.

Every problem with the input is a BadInput about a field (mu, sigma, logvar,
mu1, sigma1, cov0, cov1, samples, seed): the CLI calls the field by its flag,
the TUI marks its input. Nothing here names a flag.
"""

from __future__ import annotations

import json
import math
import os
import re
import warnings
from dataclasses import dataclass, field as dc_field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from core.config import MAX_SEED  # one seed limit for training and Monte Carlo
from core.errors import BadInput, field_word
from core.gauss.kl import Gaussian, check_samples, kl, kl_diag_terms, kl_monte_carlo

MAX_DIM = 4096  # a full covariance of this size is 128 MiB; larger is refused before loading
MAX_VECTOR = 10_000_000  # entries of a mean or spread vector (80 MB)
MAX_FILE_BYTES = 256 * 2**20
MAX_DEPTH = 2  # a covariance is a list of rows; deeper JSON is refused before parsing it


class InputsDisagree(BadInput):
    """Two fields that do not fit together (sizes, or both given): names both.

    `text` holds {field} and {other}; `worded(name, other_name)` fills them,
    so the CLI can put in two flags and the TUI two labels.
    """

    def __init__(self, field: str, other: str, text: str):
        self.other, self.text = other, text
        super().__init__(text.format(field=field_word(field), other=field_word(other)), field=field)

    def worded(self, name: str, other_name: str | None = None) -> str:
        return self.text.format(field=name, other=other_name or field_word(self.other))


class _Shown(float):
    """A float that prints as typed ("-2", "1e-200"), not as "-2.0"."""

    def __str__(self) -> str:
        return f"{float(self):g}"


def _bad(field: str, rule: str, value: Any = None) -> BadInput:
    """A BadInput about one field; the message reads "<field> <rule>, got <value>"."""
    return BadInput(field=field, value=_Shown(value) if isinstance(value, float) else value, rule=rule)


def parse_floats(value: str | float | Sequence[float], field: str) -> list[float]:
    """'0.5, 1' (or '[0.5, 1]', a number, a list, '@file.npy' / '@file.txt') -> finite floats."""
    if isinstance(value, str) and value.strip().startswith("@"):
        return _check_finite(load_vector(value.strip()[1:], field), field)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        items: list[Any] = [value]
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1].strip()
        if not text:
            raise _bad(field, "is empty")
        items = [piece.strip() for piece in text.split(",")]
    else:
        items = list(value)
        if not items:
            raise _bad(field, "is empty")
    if len(items) > MAX_VECTOR:
        raise _bad(field, f"has {len(items):,} values; at most {MAX_VECTOR:,} are allowed")
    out = []
    for i, item in enumerate(items):
        if item == "":
            raise _bad(field, f"has an empty entry at position {i + 1}")
        if isinstance(item, str) and not item.isascii():  # float() reads Arabic-Indic and fullwidth digits too: a slip, not a number
            raise _bad(field, f"has {item[:40]!r}, which is not a number written in ASCII digits")
        try:
            x = float(item)
        except (TypeError, ValueError):
            raise _bad(field, f"has {str(item)[:40]!r}, which is not a number") from None
        if not math.isfinite(x):
            raise _bad(field, f"has {str(item)[:40]!r}, which is not a finite number")
        out.append(x)
    return out


def _check_finite(values: np.ndarray, field: str) -> list[float]:
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise _bad(field, f"has a value that is not finite at position {int(bad[0]) + 1}")
    return values.tolist()


def _checked_file(text: str, field: str) -> Path:
    path = Path(os.path.expanduser(text))  # "~nosuchuser/x" stays as typed, and is not found
    try:
        if not path.exists():
            raise _bad(field, f"names no file: {text!r}")
        if not path.is_file():
            raise _bad(field, f"names {text!r}, which is not a regular file")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise _bad(field, f"file {text!r} is larger than {MAX_FILE_BYTES // 2**20} MiB")
    except OSError as exc:  # a name too long, a loop of links
        raise _bad(field, f"cannot open {text[:60]!r} ({exc.strerror or exc})") from None
    return path


def _load_npy(path: Path, text: str, field: str, max_entries: int) -> np.ndarray:
    """A .npy file without pickle, its size checked from the header first."""
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(fh)
            if dtype.kind not in "iuf":
                raise _bad(field, f"file {text!r} holds {dtype} values, not numbers")
            if math.prod(shape) > max_entries:
                raise _bad(field, f"file {text!r} has shape {shape}, too large (at most {max_entries:,} entries)")
        return np.load(path, allow_pickle=False).astype(np.float64)
    except (OSError, ValueError) as exc:
        raise _bad(field, f"cannot read {text!r} as .npy ({str(exc)[:80]})") from None


def load_vector(text: str, field: str) -> np.ndarray:
    """A vector from a .npy file (never unpickled) or a text file of numbers."""
    path = _checked_file(text, field)
    if path.suffix.lower() == ".npy":
        arr = _load_npy(path, text, field, MAX_VECTOR)
    else:
        try:
            with warnings.catch_warnings():  # an empty file: numpy warns, and the check below says it in one line
                warnings.simplefilter("ignore", UserWarning)
                arr = np.loadtxt(path, dtype=np.float64, delimiter=None if "," not in path.read_text()[:4096] else ",",
                                 ndmin=1)
        except (OSError, ValueError, UnicodeDecodeError):
            raise _bad(field, f"file {text!r} is not a list of numbers") from None
    if arr.ndim != 1 or arr.size == 0:
        raise _bad(field, f"file {text!r} must hold one non-empty vector, got shape {arr.shape}")
    return arr


def check_sigma(values: list[float], field: str) -> list[float]:
    """Standard deviations must be > 0 and their squares representable."""
    for x in values:
        if x <= 0:
            raise _bad(field, "must be > 0", x)
        if not 0 < x * x < math.inf:
            raise _bad(field, "is out of range (its square is not a usable variance)", x)
    return values


def check_logvar(values: list[float], field: str) -> list[float]:
    """Any log-variance whose e^lv is a positive finite float64 (about
    −745 < lv < 709.78): sampling and the reverse KL need the variance."""
    for x in values:
        if not -745.0 < x < 709.7:
            raise _bad(field, f"is out of range (e^{x:g} is not a usable variance)", x)
    return values


def json_depth(text: str) -> int:
    """How deeply brackets nest in a JSON text, found without parsing it
    (json.loads recurses once per level and a deep text exhausts the stack)."""
    brackets = np.frombuffer(re.sub(r"[^\[\]{}]", "", text).encode(), dtype=np.uint8)
    if brackets.size == 0:
        return 0
    steps = np.where((brackets == ord("[")) | (brackets == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


def _check_numbers(value: Any, field: str) -> None:
    """JSON must hold only numbers (json.loads gives bools and strings too)."""
    if isinstance(value, list):
        for v in value:
            _check_numbers(v, field)
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(field, f"has {str(value)[:40]!r}, which is not a number")


def load_matrix(value: str, field: str) -> np.ndarray:
    """A covariance from inline JSON ('[[2, 0.5], [0.5, 1]]'), a .json file or
    a .npy file. Shape and positive definiteness are checked later, once the
    dimension is known."""
    text = value.strip()
    if not text:
        raise _bad(field, "is empty")
    if text.startswith("[") or text.startswith("{"):
        data = _parse_json(text, field)
    else:
        path = _checked_file(text, field)
        if path.suffix.lower() == ".npy":
            arr = _load_npy(path, text, field, MAX_DIM * MAX_DIM)
            return _finite_matrix(arr, field)
        try:
            data = _parse_json(path.read_text(encoding="utf-8"), field)
        except OSError as exc:
            raise _bad(field, f"cannot read {text!r} ({exc.strerror or exc})") from None
        except UnicodeDecodeError:
            raise _bad(field, f"file {text!r} is not a JSON matrix (use .npy for binary files)") from None
    if not isinstance(data, list):
        raise _bad(field, "must be a JSON list of rows or of variances")
    _check_numbers(data, field)
    try:
        arr = np.array(data, dtype=np.float64)
    except (ValueError, TypeError):
        raise _bad(field, "has rows of different lengths") from None
    if arr.ndim == 2 and arr.shape[0] > MAX_DIM:
        raise _bad(field, f"is {arr.shape[0]}x{arr.shape[1]}; at most {MAX_DIM}x{MAX_DIM} is allowed")
    return _finite_matrix(arr, field)


def _parse_json(text: str, field: str) -> Any:
    depth = json_depth(text)
    if depth > MAX_DEPTH:
        raise _bad(field, f"nests lists {depth} deep; a covariance is a list of rows (2 deep)")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(field, f"is not valid JSON ({exc.msg} at column {exc.colno})") from None
    except ValueError as exc:  # numbers too long to convert
        raise _bad(field, f"is not usable JSON ({str(exc)[:60]})") from None


def _finite_matrix(arr: np.ndarray, field: str) -> np.ndarray:
    if arr.size == 0:
        raise _bad(field, "is empty")
    if not np.isfinite(arr).all():
        raise _bad(field, "has a value that is not finite (or too large for float64)")
    return arr


def _size(t: list | np.ndarray) -> str:
    if isinstance(t, np.ndarray) and t.ndim == 2:
        return f"is {t.shape[0]}x{t.shape[1]}"
    n = len(t) if isinstance(t, list) else t.shape[0] if t.ndim else 1
    return f"has {n} value{'s' if n != 1 else ''}"


def _dimension(vectors: dict[str, list[float]], matrices: dict[str, np.ndarray]) -> int:
    """The common dimension d. Vectors of length 1 broadcast; covariances
    never do (a 1x1 covariance with a 2-D mean is more likely a mistake)."""
    fixed: list[tuple[str, int, Any]] = [(n, len(v), v) for n, v in vectors.items() if len(v) != 1]
    fixed += [(n, m.shape[0] if m.ndim else 1, m) for n, m in matrices.items()]
    if not fixed:
        return 1
    name0, d, v0 = fixed[0]
    for name, n, v in fixed[1:]:
        if n != d:
            raise InputsDisagree(name, name0, f"{{field}} {_size(v)} but {{other}} {_size(v0)}")
    return d


@dataclass(frozen=True)
class KLProblem:
    """q (the first Gaussian) and p (N(0, I) unless a second one was given);
    the quantity of interest is KL(q ‖ p)."""

    q: Gaussian
    p: Gaussian
    inputs: dict = dc_field(default_factory=dict)  # what was given, JSON-ready

    @property
    def p_is_standard(self) -> bool:
        return self.p.is_standard

    @property
    def diagonal(self) -> bool:
        return self.q.is_diag and self.p.is_diag


def build_problem(mu: str | None = "0", sigma: str | None = None, logvar: str | None = None,
                  mu1: str | None = None, sigma1: str | None = None,
                  cov0: str | None = None, cov1: str | None = None) -> KLProblem:
    """Validate the raw field values and build both Gaussians."""
    if sigma is not None and logvar is not None:
        raise InputsDisagree("logvar", "sigma", "give {other} or {field}, not both")
    if cov0 is not None and (sigma is not None or logvar is not None):
        raise InputsDisagree("cov0", "logvar" if logvar is not None else "sigma",
                             "{field} replaces {other}; give one of them")
    if cov1 is not None and sigma1 is not None:
        raise InputsDisagree("cov1", "sigma1", "{field} replaces {other}; give one of them")

    vectors = {"mu": parse_floats("0" if mu is None else mu, "mu")}
    if logvar is not None:
        vectors["logvar"] = check_logvar(parse_floats(logvar, "logvar"), "logvar")
    elif cov0 is None:
        vectors["sigma"] = check_sigma(parse_floats("1" if sigma is None else sigma, "sigma"), "sigma")
    if mu1 is not None:
        vectors["mu1"] = parse_floats(mu1, "mu1")
    if sigma1 is not None:
        vectors["sigma1"] = check_sigma(parse_floats(sigma1, "sigma1"), "sigma1")
    matrices = {}
    if cov0 is not None:
        matrices["cov0"] = load_matrix(cov0, "cov0")
    if cov1 is not None:
        matrices["cov1"] = load_matrix(cov1, "cov1")
    d = _dimension(vectors, matrices)
    if d > MAX_DIM and matrices:
        raise _bad(next(iter(matrices)), f"has dimension {d:,}; at most {MAX_DIM:,} with a full covariance")

    def vec(name: str, default: float = 0.0) -> np.ndarray:
        values = vectors.get(name, [default])
        return np.array(values * d if len(values) == 1 else values, dtype=np.float64)

    if cov0 is not None:
        q = Gaussian.full(vec("mu"), matrices["cov0"], "cov0")
    elif logvar is not None:
        q = Gaussian.diag(vec("mu"), logvar=vec("logvar"))
    else:
        q = Gaussian.diag(vec("mu"), sigma=vec("sigma", 1.0))
    if cov1 is not None:
        p = Gaussian.full(vec("mu1"), matrices["cov1"], "cov1")
    else:
        p = Gaussian.diag(vec("mu1"), sigma=vec("sigma1", 1.0))
    inputs = {"q": describe(q, given_logvar=logvar is not None), "p": describe(p)}
    return KLProblem(q, p, inputs)


def describe(g: Gaussian, given_logvar: bool = False) -> dict:
    """A Gaussian as plain lists for JSON."""
    d: dict[str, Any] = {"mu": g.mean.tolist()}
    if g.is_diag:
        d["sigma"] = np.sqrt(g.cov).tolist()  # the σ typed, not one round-tripped through ln σ²
        if given_logvar:
            d["logvar"] = g.log_variances.tolist()
    else:
        d["cov"] = g.cov.tolist()
    return d


def _finite_or_none(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


@dataclass(frozen=True)
class KLReport:
    """Everything `aekl kl` prints: per-dim terms (diagonal pairs only, else
    None), both directions (inf where float64 overflows), and the Monte Carlo
    check of KL(q ‖ p)."""

    problem: KLProblem
    terms: list[float] | None  # KL(q ‖ p) per dimension
    reverse_terms: list[float] | None  # KL(p ‖ q) per dimension
    total: float  # KL(q ‖ p)
    reverse: float  # KL(p ‖ q)
    mc_estimate: float | None
    mc_stderr: float | None
    samples: int
    seed: int

    @property
    def overflowed(self) -> list[str]:
        """Which directions overflow float64: "forward" (KL(q‖p)), "reverse"."""
        return [name for name, x in (("forward", self.total), ("reverse", self.reverse)) if math.isinf(x)]

    def to_json(self) -> dict:
        def clean(xs):
            return None if xs is None else [_finite_or_none(x) for x in xs]

        return {
            "inputs": self.problem.inputs,
            "diagonal": self.problem.diagonal,
            "terms": clean(self.terms),
            "reverse_terms": clean(self.reverse_terms),
            "total": _finite_or_none(self.total),
            "reverse": _finite_or_none(self.reverse),
            "overflow": self.overflowed,  # the directions given as null above
            "mc": None if self.mc_estimate is None else {
                "estimate": self.mc_estimate, "stderr": self.mc_stderr,
                "samples": self.samples, "seed": self.seed,
            },
        }


def check_seed(seed: int) -> int:
    if not 0 <= seed <= MAX_SEED:
        raise _bad("seed", "must be between 0 and 2^63 - 1", seed)
    return seed


def report_for(problem: KLProblem, samples: int = 100_000, seed: int = 0) -> KLReport:
    """Both directions and the Monte Carlo check (skipped when samples is 0).
    Refused only when both directions overflow; one finite direction is
    reported with the other as inf."""
    q, p = problem.q, problem.p
    check_samples(samples, q.dim)
    check_seed(seed)
    terms = reverse_terms = None
    if problem.diagonal:
        lq, lp = q.log_variances, p.log_variances
        terms = kl_diag_terms(q.mean, lq, p.mean, lp).terms.tolist()
        reverse_terms = kl_diag_terms(p.mean, lp, q.mean, lq).terms.tolist()
    total, reverse = kl(q, p), kl(p, q)
    if math.isinf(total) and math.isinf(reverse):
        raise BadInput("the KL divergence overflows float64 in both directions for these values; "
                       "use smaller means or spreads")
    mc: tuple[float | None, float | None] = (None, None)
    if samples and math.isfinite(total):
        mc = kl_monte_carlo(q, p, samples, seed)
        if not all(math.isfinite(x) for x in mc):
            mc = (None, None)  # squared log-ratios overflow; the CLI says so
    return KLReport(problem, terms, reverse_terms, total, reverse, mc[0], mc[1], samples, seed)
