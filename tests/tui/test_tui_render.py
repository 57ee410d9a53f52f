"""The half-block renderer (core.figures.render) and the digit strip's layout."""

from __future__ import annotations

import numpy as np
import pytest
from rich.style import Style

from core.figures.render import (GAP, MIN_FRAMES, UPPER_HALF, cell_pairs, grey, page_layout, pick_frames,
                                 resize, to_unit)
from tui.pixels import image_text, strip_text


def cell_styles(text):
    """(character, foreground hex, background hex) for every character of a Text."""
    out = []
    for span in text.spans:
        style = Style.parse(span.style) if isinstance(span.style, str) else span.style
        for i in range(span.start, span.end):
            out.append((text.plain[i], style.color.triplet.hex, style.bgcolor.triplet.hex))
    return out


def test_two_by_two_image_is_two_cells_top_on_bottom():
    # top row: black, white; bottom row: half grey, quarter grey
    image = np.array([[0.0, 1.0], [0.5, 0.25]])
    text = image_text(image)
    assert text.plain == UPPER_HALF * 2
    # the upper half block is drawn in the foreground colour (top pixel)
    # over the background colour (bottom pixel); 0.5 -> 128, 0.25 -> 64
    assert cell_styles(text) == [(UPPER_HALF, "#000000", "#808080"), (UPPER_HALF, "#ffffff", "#404040")]


def test_odd_height_pairs_the_last_row_with_black():
    pairs = cell_pairs(np.array([[1.0], [0.5], [0.25]]))
    assert pairs == [[(1.0, 0.5)], [(0.25, 0.0)]]


def test_grey_clips_and_rounds():
    assert [grey(v) for v in (-1, 0, 0.5, 1, 2)] == ["#000000", "#000000", "#808080", "#ffffff", "#ffffff"]


def test_strip_puts_images_side_by_side_with_a_gap():
    a = np.zeros((4, 2))
    b = np.ones((4, 3))
    text = strip_text([a, b], gap=2)
    assert text.plain.split("\n") == [UPPER_HALF * 2 + "  " + UPPER_HALF * 3] * 2
    colours = {(c, fg, bg) for c, fg, bg in cell_styles(text)}
    assert colours == {(UPPER_HALF, "#000000", "#000000"), (UPPER_HALF, "#ffffff", "#ffffff")}


def test_model_range_maps_to_unit_and_resize_averages():
    assert to_unit(np.array([-1.0, 0.0, 1.0, 3.0])).tolist() == [0.0, 0.5, 1.0, 1.0]
    image = np.arange(16, dtype=float).reshape(4, 4)
    assert resize(image, 2).tolist() == [[2.5, 4.5], [10.5, 12.5]]


def test_resize_keeps_the_mean_and_the_extremes_of_a_flat_image():
    rng = np.random.default_rng(0)
    image = rng.random((28, 28))
    for size in (7, 10, 13, 28):
        small = resize(image, size)
        assert small.shape == (size, size)
        assert small.mean() == pytest.approx(image.mean(), rel=1e-9)
    assert np.allclose(resize(np.full((28, 28), 0.3), 11), 0.3)


@pytest.mark.parametrize("width, rows, frames, side", [
    (80, 5, MIN_FRAMES, 10),  # 80 columns: seven readable frames beat ten tiny ones
    (120, 8, 10, 11),  # ten frames fit at a readable size
    (400, 20, 10, 28),  # never larger than the image itself
    (400, 3, 10, 6),  # height limits: 3 rows hold 6 pixels
])
def test_pick_frames_fits_the_space(width, rows, frames, side):
    shown, got = pick_frames(10, width, rows)
    assert (len(shown), got) == (frames, side)
    assert shown[0] == 0 and shown[-1] == 9  # start and end are always there
    assert len(shown) * got + GAP * (len(shown) - 1) <= width


@pytest.mark.parametrize("width, rows, per_page, side", [
    (80, 7, 5, 14),  # 80x24: five digits of 14x14 pixels (7 rows) a page, not ten of 7x7
    (118, 14, 4, 28),  # 120x40: four full-size digits a page fill the rows
    (200, 20, 10, 19),  # ten fit at a legible 19x19: no paging
    (400, 3, 10, 6),  # three rows hold six pixels: all ten, as large as the rows allow
    (10, 14, 1, 10),  # narrower than one digit: one a page, cut to the width
])
def test_page_layout_prefers_fewer_larger_frames(width, rows, per_page, side):
    assert page_layout(10, width, rows) == (per_page, side)
    assert side <= min(28, 2 * rows) and per_page * side + GAP * (per_page - 1) <= width
