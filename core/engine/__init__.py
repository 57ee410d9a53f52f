"""The training loop and the one way from a request to a ready run."""
