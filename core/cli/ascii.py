"""How aekl spells its symbols on a terminal that cannot show them.

Under PYTHONIOENCODING=ascii (or a latin-1 locale) printing σ would raise
UnicodeEncodeError mid-output. Every stream the CLI writes to is set to the
"aekl-ascii" error handler instead, registered here and only here, which
spells each symbol out (σ → sigma, ‖ → ||). The table holds what the
commands print; whole kinds of characters (Greek letters, super- and
subscripts, box drawing, blocks) are spelled by their Unicode name so that
a symbol added later still reads as something better than "?".
"""

from __future__ import annotations

import codecs
import unicodedata

from rich.console import Console

HANDLER = "aekl-ascii"

# Sequences first: "⁻¹" reads better as ^-1 than as ^-^1.
SEQUENCES = {"⁻¹": "^-1", "⁻²": "^-2", "⁻ᵀ": "^-T"}

SYMBOLS = {
    "‖": "||", "−": "-", "–": "-", "—": "--", "…": "...", "·": "*", "×": "x", "÷": "/", "±": "+/-",
    "≈": "~", "≠": "!=", "≥": ">=", "≤": "<=", "≪": "<<", "≫": ">>", "→": "->", "←": "<-", "⇒": "=>",
    "↔": "<->", "∞": "inf", "∑": "sum", "∏": "prod", "∫": "integral", "√": "sqrt", "∂": "d", "∇": "grad",
    "½": "1/2", "¼": "1/4", "′": "'", "’": "'", "‘": "'", "“": '"', "”": '"', "•": "*", "●": "*", "○": "o",
    "✓": "ok", "✗": "x", "°": "deg", "ᵀ": "^T", "ˣ": "^x", "⁻": "^-", "⁺": "^+", "ℓ": "l", "ε": "eps", "µ": "mu",
    "λ": "lambda", "∈": "in", "∉": "not in", "⊂": "subset of",
    # combining marks follow their letter: x̂ reads x^, x̃ reads x~, x̄ reads xbar
    "\u0302": "^", "\u0303": "~", "\u0304": "bar", "\u0305": "bar",
}


def spell(ch: str) -> str:
    """ASCII for one character: the table, else a rule for its kind, else '?'."""
    if ch in SYMBOLS:
        return SYMBOLS[ch]
    name = unicodedata.name(ch, "")
    if name.startswith("GREEK "):  # GREEK SMALL LETTER BETA -> beta, GREEK CAPITAL LETTER SIGMA -> Sigma
        letter = name.split()[-1].lower()
        return letter.capitalize() if "CAPITAL" in name else letter
    plain = unicodedata.normalize("NFKD", ch).replace("\u2044", "/").encode("ascii", "ignore").decode()
    if "SUPERSCRIPT" in name and plain:
        return "^" + plain
    if plain:
        return plain  # subscript digits, accented letters
    if name.startswith("BOX DRAWINGS"):
        across, down = "HORIZONTAL" in name, "VERTICAL" in name
        return "-" if across and not down else "|" if down and not across else "+"
    if name.startswith(("BLOCK", "UPPER HALF", "LOWER HALF", "FULL BLOCK", "LEFT HALF", "RIGHT HALF",
                        "LIGHT SHADE", "MEDIUM SHADE", "DARK SHADE", "BRAILLE", "QUADRANT")):
        return "#"
    if "ARROW" in name:
        return ">"
    if name.startswith(("HEAVY", "LIGHT", "DOUBLE")) and "LINE" in name:
        return "-"
    return "?"


def transliterate(text: str) -> str:
    """The whole of `text` with every non-ASCII character spelled out."""
    for seq, ascii_ in SEQUENCES.items():
        text = text.replace(seq, ascii_)
    return "".join(ch if ord(ch) < 128 else spell(ch) for ch in text)


def _handler(exc: UnicodeError):
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    return transliterate(exc.object[exc.start:exc.end]), exc.end


codecs.register_error(HANDLER, _handler)


class PlainConsole(Console):
    """rich's Console, spelling symbols out before it lays text out when its
    stream is not UTF-8: a table whose cells say "sigma" then gets columns
    wide enough for it (transliterating at the stream would shift them).
    rich itself already draws ASCII boxes and bars there."""

    def render_str(self, text: str, **kwargs):
        if self.options.ascii_only:
            text = transliterate(text)
        return super().render_str(text, **kwargs)
