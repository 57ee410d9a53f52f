"""Half-block digits as rich Text for the app's widgets."""

from __future__ import annotations

import numpy as np
from rich.text import Text

from core.figures.render import image_segments, strip_segments


def image_text(image: np.ndarray) -> Text:
    return Text.assemble(*image_segments(image), no_wrap=True, overflow="crop")


def strip_text(images: list[np.ndarray], gap: int = 1) -> Text:
    return Text.assemble(*strip_segments(images, gap), no_wrap=True, overflow="crop")
