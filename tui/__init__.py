"""aekl-tui: the Textual face of aekl. Imports core; core never imports this."""
