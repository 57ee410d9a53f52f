"""Pictures of a run: PNGs, GIFs and terminal pixels."""
