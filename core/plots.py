"""Full-resolution PNGs of a run, drawn off-screen (matplotlib's Agg canvas).

Figures are built with matplotlib.figure.Figure rather than pyplot so that no
global state or display is involved: safe from the TUI's worker thread and
on a headless GPU box. Every file is written atomically.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from core.latent import decode, encode, line_frames, manifold_grid, pca_2d
from core.runs import Run, atomic_write, atomic_write_bytes

DIGIT_COLOURS = "tab10"  # qualitative: ten well-separated hues, one per digit


def save_figure(fig: Figure, path: Path, dpi: int = 120) -> Path:
    FigureCanvasAgg(fig)
    # bbox "tight" keeps outside legends and axis labels inside the image
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight"))


def _to_unit(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """[-1, 1] pixels -> [0, 1] for display."""
    x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    return np.clip((x + 1.0) / 2.0, 0.0, 1.0)


def loss_figure(metrics: list[dict]) -> Figure:
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    epochs = [m["epoch"] for m in metrics]
    ax.plot(epochs, [m["train_mse"] for m in metrics], "o-", label="train MSE")
    ax.plot(epochs, [m["test_mse"] for m in metrics], "s-", label="test MSE")
    if metrics and "test_kl" in metrics[0]:
        ax2 = ax.twinx()
        ax2.plot(epochs, [m["test_kl"] for m in metrics], "^--", color="tab:red", label="test KL")
        ax2.set_ylabel("KL per image (nats)")
        ax2.legend(loc="upper center")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE per pixel (data in [-1, 1])")
    ax.set_title("Reconstruction loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def latent_figure(codes: np.ndarray, labels: np.ndarray, title: str) -> Figure:
    """Scatter of (N, 2) points, one colour per digit, with a legend."""
    fig = Figure(figsize=(7.0, 6.0))
    ax = fig.add_subplot()
    colours = colormaps[DIGIT_COLOURS]
    for digit in range(10):
        sel = labels == digit
        ax.scatter(codes[sel, 0], codes[sel, 1], s=3, alpha=0.6, color=colours(digit), label=str(digit), rasterized=True)
    ax.legend(title="digit", markerscale=4, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def latent_axes(codes: torch.Tensor) -> tuple[np.ndarray, str, tuple[str, str]]:
    """2-D coordinates for plotting, a title note and axis labels."""
    flat, share = pca_2d(codes)
    d = codes.shape[1]
    if d > 2:
        note = f"PCA of the {d}-D latent to 2-D ({100 * float(share.sum()):.0f}% of variance)"
        return flat.cpu().numpy(), note, (f"PC1 ({100 * float(share[0]):.0f}%)", f"PC2 ({100 * float(share[1]):.0f}%)")
    if d == 1:
        return flat.cpu().numpy(), "1-D latent (second axis empty)", ("z1", "")
    return flat.cpu().numpy(), "2-D latent", ("z1", "z2")


def strip_figure(frames: np.ndarray, ends: np.ndarray, title: str) -> Figure:
    """Original start | decoded frames | original end, pixels kept square and sharp."""
    images = [ends[0], *frames, ends[1]]
    names = ["original", *[f"t={t:.2f}" for t in np.linspace(0, 1, len(frames))], "original"]
    fig = Figure(figsize=(1.1 * len(images), 1.6))
    for i, (img, name) in enumerate(zip(images, names)):
        ax = fig.add_subplot(1, len(images), i + 1)
        ax.imshow(_to_unit(img).reshape(28, 28), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(name, fontsize=7, color="tab:blue" if name == "original" else "black")
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def image_grid_png(images: torch.Tensor, nrow: int, path: Path, scale: int = 4) -> Path:
    """(N, 784) in [-1, 1] -> one PNG grid, upscaled by pixel repetition (no blur)."""
    from torchvision.utils import make_grid, save_image

    grid = make_grid(torch.from_numpy(_to_unit(images)).reshape(-1, 1, 28, 28), nrow=nrow, padding=2, pad_value=0.5)
    grid = grid.repeat_interleave(scale, 1).repeat_interleave(scale, 2)
    return atomic_write(path, lambda f: save_image(grid, f, format="png"))


def save_run_figures(run: Run, model, data, config, pair: tuple[int, int]) -> dict[str, str]:
    """Write every figure of a run and latents.npz; return {name: path}."""
    files: dict[str, Path] = {}
    test_x, test_y = data.test_x, data.test_y
    codes = encode(model, test_x)
    labels = test_y.cpu().numpy()

    buf = io.BytesIO()
    np.savez(buf, codes=codes.cpu().numpy(), labels=labels)
    files["latents"] = atomic_write_bytes(run.file("latents.npz"), buf.getvalue())

    metrics = run.metrics()
    if metrics:
        files["loss"] = save_figure(loss_figure(metrics), run.file("loss.png"))

    flat, note, (xl, yl) = latent_axes(codes)
    fig = latent_figure(flat, labels, f"{config.kind.upper()} latent space, test set: {note}")
    fig.axes[0].set_xlabel(xl)
    fig.axes[0].set_ylabel(yl)
    files["latent"] = save_figure(fig, run.file("latent.png"))

    ends = test_x[list(pair)]
    frames = line_frames(model, ends, config.interp_steps)
    title = f"Decoded straight line in latent space between test images {pair[0]} and {pair[1]}"
    files["interpolation"] = save_figure(strip_figure(frames.cpu().numpy(), ends.cpu().numpy(), title), run.file("interpolation.png"))

    originals = test_x[:10]
    recon = decode(model, encode(model, originals))
    files["reconstructions"] = image_grid_png(torch.cat([originals, recon]), 10, run.file("reconstructions.png"))

    if config.latent == 2:
        files["manifold"] = image_grid_png(manifold_grid(model, codes, 15), 15, run.file("manifold.png"), scale=2)
    return {k: str(v) for k, v in files.items()}
