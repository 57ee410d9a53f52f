"""Words and numbers that both faces show, kept in one place (no UI packages)."""
