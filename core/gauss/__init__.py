"""Gaussians and KL: closed forms, what a person types, derivations, densities (numpy only)."""
