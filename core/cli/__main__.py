"""`python -m core.cli`: the same as the `aekl` script, for boxes where the
package is on PYTHONPATH but not installed."""

from core.cli import app

app(prog_name="aekl")
