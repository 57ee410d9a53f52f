"""Codes of any size as 2-D points to draw, in numpy alone (viewers need no torch)."""

from __future__ import annotations

import numpy as np


def pca_2d(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, d) -> (N, 2) on the two main axes, and the share of variance of each.
    Codes of one or two dimensions pass through (padded with zeros)."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.shape[1] <= 2:
        return np.pad(codes, ((0, 0), (0, 2 - codes.shape[1]))).astype(np.float32), np.ones(2, np.float32)
    centred = codes - codes.mean(0)
    _, s, vh = np.linalg.svd(centred, full_matrices=False)
    share = (s**2 / max((s**2).sum(), 1e-300))[:2]
    return (centred @ vh[:2].T).astype(np.float32), share.astype(np.float32)
