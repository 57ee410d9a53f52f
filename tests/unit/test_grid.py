"""core.figures.plots lays out image grids as torchvision's make_grid does, without torchvision."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from core.figures.plots import image_grid_png


@pytest.mark.slow  # imports torchvision (seconds); the fast loop draws grids in the tests below
@pytest.mark.parametrize("nrow", [1, 5, 10, 30])
def test_grid_png_matches_make_grid(nrow, tmp_path):
    from torchvision.utils import make_grid

    images = torch.rand(23, 784, generator=torch.Generator().manual_seed(0)) * 2 - 1
    unit = ((images + 1) / 2).clamp(0, 1).reshape(-1, 1, 28, 28)  # [-1, 1] pixels shown as [0, 1]
    theirs = make_grid(unit, nrow=nrow, padding=2, pad_value=0.5)[0].numpy()
    with Image.open(image_grid_png(images, nrow, tmp_path / "grid.png", scale=1)) as png:
        ours = np.asarray(png)
    cols = min(nrow, 23)
    assert ours.shape == (2 + 30 * -(-23 // cols), 2 + 30 * cols)
    expected = np.round(theirs * 255)
    assert np.abs(ours.astype(int) - expected).max() <= 1  # one grey level of rounding


def test_grid_png_scales_by_repeating_pixels(tmp_path):
    images = torch.linspace(-1, 1, 2 * 784).reshape(2, 784)
    with Image.open(image_grid_png(images, 2, tmp_path / "one.png", scale=1)) as png:
        one = np.asarray(png)
    with Image.open(image_grid_png(images, 2, tmp_path / "three.png", scale=3)) as png:
        three = np.asarray(png)
    assert np.array_equal(three, one.repeat(3, 0).repeat(3, 1))
