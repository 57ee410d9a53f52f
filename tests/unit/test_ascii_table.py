"""core.cli.ascii: every symbol aekl's code holds has an ASCII spelling.

The characters are gathered from the source itself, so a symbol added to
any message, table or derivation later is checked without editing this test."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from core.cli.ascii import HANDLER, spell, transliterate

CORE = Path(__file__).resolve().parents[2] / "core"


def symbols_in_core() -> list[str]:
    found = set()
    for path in CORE.rglob("*.py"):
        found.update(ch for ch in path.read_text(encoding="utf-8") if ord(ch) > 127)
    return sorted(found)


def test_the_source_holds_symbols_to_check():
    assert {"σ", "μ", "β", "‖", "Σ", "²"} <= set(symbols_in_core())


@pytest.mark.parametrize("ch", symbols_in_core())
def test_every_symbol_in_the_code_is_spelled_in_ascii(ch):
    spelled = spell(ch)
    assert spelled.isascii() and spelled and spelled != "?", (ch, spelled)


@pytest.mark.parametrize("text, ascii_", [
    ("KL(q ‖ p)", "KL(q || p)"),
    ("β·KL", "beta*KL"),
    ("Σ⁻¹ μ", "Sigma^-1 mu"),
    ("σ² ≈ 1 ± 0.1", "sigma^2 ~ 1 +/- 0.1"),
    ("┃ epoch ┃", "| epoch |"),
    ("━━", "--"),
    ("▀█", "##"),
])
def test_transliterate(text, ascii_):
    assert transliterate(text) == ascii_


def test_the_handler_is_the_one_registered():
    assert "σ = 2, β = 4".encode("ascii", errors=HANDLER) == b"sigma = 2, beta = 4"
    assert codecs.lookup_error(HANDLER)(UnicodeEncodeError("ascii", "‖", 0, 1, "x")) == ("||", 1)
