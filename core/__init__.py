"""aekl core: everything that computes. Importable without textual, typer or rich."""

__version__ = "0.1.0"
