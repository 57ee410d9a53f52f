"""`aekl movie`: how the latent space and the decoded line formed, epoch by epoch, as GIFs.

Frames come from the run's history (one snapshot per epoch) through the same
reader the TUI uses; matplotlib's Pillow writer makes the GIF (no ffmpeg).
Axes and legend are fixed over all frames so that motion is the codes', not
the camera's.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from core.errors import RunError
from core.events import EpochEnd
from core.runfolder.follow import epoch_end
from core.figures.project import pca_2d
from core.runfolder.runs import Run
from core.runfolder.safeio import atomic_write_bytes

FPS = 2


def snapshots(run: Run) -> list[EpochEnd]:
    """The epochs with a history record, read through the run-folder schema:
    a damaged record (or metrics row) is an error naming the file, not a frame."""
    config = run.config()
    ends = []
    for row in run.metric_rows(config):
        record = run.history(row.epoch, config.latent)
        if record is not None and len(record.codes):
            ends.append(epoch_end(row, config, record))
    if not ends:
        raise RunError(f"run {run.id} has no per-epoch history to animate (it was written before aekl kept one, "
                       "or has not finished an epoch)")
    return ends


def _limits(points: list[np.ndarray]) -> tuple[tuple[float, float], tuple[float, float]]:
    allp = np.concatenate(points)
    allp = allp[np.isfinite(allp).all(axis=1)]  # a damaged snapshot must not make the axes NaN
    if not len(allp):
        return (-1.0, 1.0), (-1.0, 1.0)
    lo, hi = np.percentile(allp, 0.5, axis=0), np.percentile(allp, 99.5, axis=0)
    pad = (hi - lo) * 0.05 + 1e-6
    return (lo[0] - pad[0], hi[0] + pad[0]), (lo[1] - pad[1], hi[1] + pad[1])


def _write_gif(fig: Figure, path: Path, frames: int, draw: Callable[[int], None],
               tick: Callable[[], None]) -> Path:
    """Draw each frame off-screen and write the GIF in one atomic write: the
    frames are put together in memory, so no temp file of a fixed name exists
    for anyone to plant a link at, and a kill leaves the old GIF whole."""
    from PIL import Image

    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(80)
    images = []
    for i in range(frames):
        draw(i)
        canvas.draw()
        images.append(Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy()))
        tick()
    if not images:
        raise RunError(f"no frames to write to {path}")
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / FPS), loop=0)
    atomic_write_bytes(path, buf.getvalue())
    return path


def latent_gif(run: Run, ends: list[EpochEnd], tick: Callable[[], None]) -> Path:
    kept = [np.isfinite(e.codes).all(axis=1) for e in ends]  # a damaged snapshot's inf/NaN rows are left out
    points = [pca_2d(e.codes[k])[0] if k.any() else np.zeros((0, 2)) for e, k in zip(ends, kept)]
    xlim, ylim = _limits(points)
    colours = colormaps["tab10"]
    fig = Figure(figsize=(6.0, 5.0))
    ax = fig.add_subplot()
    note = "PCA to 2-D per epoch" if ends[0].codes.shape[1] > 2 else "2-D latent"

    def draw(i: int) -> None:
        ax.clear()
        labels = ends[i].labels[kept[i]]
        for digit in range(10):
            sel = labels == digit
            ax.scatter(points[i][sel, 0], points[i][sel, 1], s=3, alpha=0.6, color=colours(digit), label=str(digit))
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        ax.legend(title="digit", markerscale=4, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
        ax.set_title(f"{run.id}: test codes, epoch {ends[i].epoch} ({note})", fontsize=9)
        fig.subplots_adjust(right=0.8)

    return _write_gif(fig, run.file("latent.gif"), len(ends), draw, tick)


def interpolation_gif(run: Run, ends: list[EpochEnd], tick: Callable[[], None]) -> Path:
    count = max(1, max(len(e.frames) for e in ends))
    fig = Figure(figsize=(0.9 * count, 1.4))
    axes = [fig.add_subplot(1, count, k + 1) for k in range(count)]

    def draw(i: int) -> None:
        frames = ends[i].frames
        for k, ax in enumerate(axes):
            ax.clear()
            ax.axis("off")
            if k < len(frames):
                ax.imshow(np.clip((frames[k] + 1) / 2, 0, 1), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        pair = list(np.ravel(ends[i].pair))
        line = f"from test #{pair[0]} to #{pair[-1]}" if pair else "between two test images"
        fig.suptitle(f"epoch {ends[i].epoch}: decoded line {line}", fontsize=9)

    return _write_gif(fig, run.file("interpolation.gif"), len(ends), draw, tick)


def make_movies(run: Run, tick: Callable[[], None] = lambda: None) -> tuple[dict[str, str], int]:
    """Write latent.gif and interpolation.gif; return their paths and the frame count."""
    ends = snapshots(run)
    files = {"latent": str(latent_gif(run, ends, tick)), "interpolation": str(interpolation_gif(run, ends, tick))}
    return files, len(ends)
