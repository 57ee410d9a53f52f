"""core.figures.plots lays out image grids as torchvision's make_grid does, without torchvision."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.figures.plots import _grid_array, _to_unit


@pytest.mark.parametrize("nrow", [1, 5, 10, 30])
def test_grid_matches_make_grid(nrow):
    from torchvision.utils import make_grid

    images = torch.rand(23, 784, generator=torch.Generator().manual_seed(0)) * 2 - 1
    theirs = make_grid(torch.from_numpy(_to_unit(images)).reshape(-1, 1, 28, 28), nrow=nrow, padding=2, pad_value=0.5)
    ours = _grid_array(images, nrow)
    assert ours.shape == (2 + 30 * -(-23 // min(nrow, 23)), 2 + 30 * min(nrow, 23))
    assert np.array_equal(ours, theirs[0].numpy())
