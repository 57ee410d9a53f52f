"""Images as terminal text: two pixels per character cell with the upper half block.

'▀' is drawn in the foreground colour (the top pixel) over the background
colour (the bottom pixel), so a 28x28 digit fits in 28x14 cells. The output is
plain (text, style) segments; each face turns them into its own rich Text.
"""

from __future__ import annotations

import numpy as np

UPPER_HALF = "\u2580"


def grey(level: float) -> str:
    """A value in [0, 1] as a #rrggbb grey."""
    v = int(round(float(np.clip(level, 0.0, 1.0)) * 255))
    return f"#{v:02x}{v:02x}{v:02x}"


def cell_pairs(image: np.ndarray) -> list[list[tuple[float, float]]]:
    """(H, W) image in [0, 1] -> rows of (top, bottom) pixel pairs, H/2 rows.

    An odd last row is paired with black so no pixel is dropped.
    """
    img = np.asarray(image, dtype=np.float64)
    if img.shape[0] % 2:
        img = np.vstack([img, np.zeros((1, img.shape[1]))])
    return [list(zip(img[r], img[r + 1])) for r in range(0, img.shape[0], 2)]


def to_unit(image: np.ndarray) -> np.ndarray:
    """Model output in [-1, 1] -> [0, 1]."""
    return np.clip((np.asarray(image, dtype=np.float64) + 1.0) / 2.0, 0.0, 1.0)


def image_segments(image: np.ndarray) -> list[tuple[str, str]]:
    """One image in [0, 1] as styled half-block segments."""
    return strip_segments([image], gap=0)


def strip_segments(images: list[np.ndarray], gap: int = 1) -> list[tuple[str, str]]:
    """Images in [0, 1] side by side, `gap` blank cells apart, as (text, style)
    segments with newlines between rows: what `rich.text.Text.assemble` takes,
    so each face builds its own Text and core stays free of UI packages."""
    grids = [cell_pairs(img) for img in images]
    height = max(len(g) for g in grids)
    segments: list[tuple[str, str]] = []
    for row in range(height):
        for k, grid in enumerate(grids):
            if k:
                segments.append((" " * gap, ""))
            cells = grid[row] if row < len(grid) else []
            segments.extend((UPPER_HALF, f"{grey(top)} on {grey(bottom)}") for top, bottom in cells)
        if row < height - 1:
            segments.append(("\n", ""))
    return segments


GAP = 1  # blank cells between frames
MIN_FRAMES = 7  # start + 5 intermediate + end: the least the strip may show
READABLE = 10  # below this many pixels a side, prefer fewer, larger frames


def resample_matrix(src: int, dst: int) -> np.ndarray:
    """(dst, src) weights that average source pixels into dst bins by overlap."""
    m = np.zeros((dst, src))
    scale = src / dst
    for i in range(dst):
        lo, hi = i * scale, (i + 1) * scale
        for j in range(int(np.floor(lo)), min(src, int(np.ceil(hi)))):
            m[i, j] = max(0.0, min(hi, j + 1) - max(lo, j))
    return m / m.sum(axis=1, keepdims=True)


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """Square image -> size x size by area averaging (no aliasing when shrinking)."""
    if image.shape[0] == size:
        return image
    m = resample_matrix(image.shape[0], size)
    return m @ image @ m.T


def pick_frames(count: int, width: int, rows: int, native: int = 28) -> tuple[list[int], int]:
    """Which frames to show and at how many pixels a side, for width x rows cells."""

    def side(n: int) -> int:
        across = (width - GAP * (n - 1)) // n
        return max(0, min(native, across, 2 * rows))

    every = list(range(count))
    if count <= MIN_FRAMES or side(count) >= READABLE:
        return every, side(count)
    few = sorted({int(round(x)) for x in np.linspace(0, count - 1, MIN_FRAMES)})
    if side(len(few)) <= side(count):
        return every, side(count)  # height is the limit: dropping frames gains nothing
    return few, side(len(few))


LEGIBLE = 14  # pixels a side below which a digit's strokes blur: half the native 28
PER_PAGE = 4  # frames a page aims for when they cannot all be shown legibly


def page_layout(count: int, width: int, rows: int, native: int = 28) -> tuple[int, int]:
    """(frames a page, pixels a side) for `count` frames in width x rows cells.

    All frames at once when they fit at a legible size (or at the largest the
    rows allow, if that is smaller); otherwise fewer, larger frames a page,
    paged through by the viewer, each as large as the rows allow while about
    PER_PAGE still fit across.
    """
    if count <= 0 or width <= 0 or rows <= 0:
        return 0, 0
    tallest = min(native, 2 * rows)  # two pixels a cell, never above native size

    def across(n: int) -> int:
        return (width - GAP * (n - 1)) // n

    if min(tallest, across(count)) >= min(LEGIBLE, tallest):
        return count, min(tallest, across(count))
    side = max(1, min(tallest, max(LEGIBLE, across(min(count, PER_PAGE)))))
    per_page = max(1, min(count, (width + GAP) // (side + GAP)))
    side = min(side, width)
    return per_page, side
