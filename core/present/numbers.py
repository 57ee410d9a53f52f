"""Numbers as people read them, shared by the CLI, the TUI and the derivations.

Significant digits, not fixed decimals: fixed decimals print a KL of 3e-9 as
"0.0000" and an inequality between tiny numbers as "0.0000 > 0.0000 + 0.0000".
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Callable, Sequence

DIGITS = 6  # significant digits shown unless a caller needs more
MINUS = "−"  # U+2212, for prose; tables keep "-" so values paste into a shell


def num(x: float, digits: int = DIGITS, minus: str = "-") -> str:
    """x to `digits` significant digits: 0.125, 1.43185, 3.2e-09, 1.5e+12.

    An overflowed value reads "overflow" rather than "inf": every KL here is
    finite in exact arithmetic, float64 just cannot hold it.
    """
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "overflow" if x > 0 else minus + "overflow"
    text = f"{x:.{digits}g}"
    return minus + text[1:] if text.startswith("-") else text


def prose(x: float, digits: int = DIGITS) -> str:
    """num() with a typographic minus (exponents keep their ASCII sign)."""
    return num(x, digits, MINUS)


def signed(x: float, digits: int = DIGITS) -> str:
    """'+ 1.2' or '− 1.2', to continue a sum as printed."""
    body = prose(abs(x), digits)
    return f"{MINUS if x < 0 or (x == 0 and math.copysign(1, x) < 0) else '+'} {body}"


def adding_up(parts: Sequence[float], combine: Callable[[list[Decimal]], Decimal], result: float,
              digits: int = DIGITS, most: int = 17) -> tuple[int, bool]:
    """The fewest significant digits (from `digits` up) at which the printed
    parts, combined exactly, round to the printed result.

    Returns (digits, True), or (most, False) when no precision up to `most`
    makes the arithmetic close (the parts cancel and the result was computed
    another, more accurate way); the caller then says so.
    """
    if not all(math.isfinite(p) for p in parts) or not math.isfinite(result):
        return digits, False
    for n in range(digits, most + 1):
        shown = [Decimal(f"{p:.{n}g}") for p in parts]
        if f"{float(combine(shown)):.{n}g}" == f"{result:.{n}g}":
            return n, True
    return most, False
