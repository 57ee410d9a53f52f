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

from core.nn.schedules import beta_curve, steps_per_epoch
from core.nn.elbo import posterior_stats
from core.nn.latent import (TRAVERSAL_VALUES, decode, encode, line_frames, manifold_axes, manifold_grid, pca_2d,
                         traversal_images)
from core.figures.render import to_unit
from core.runfolder.runs import Run
from core.runfolder.safeio import atomic_write, atomic_write_bytes

DIGIT_COLOURS = "tab10"  # qualitative: ten well-separated hues, one per digit


def save_figure(fig: Figure, path: Path, dpi: int = 120, tight: bool = True) -> Path:
    """`tight` keeps outside legends and axis labels inside the image; without
    it the PNG has exactly the figure's size times dpi."""
    FigureCanvasAgg(fig)
    box = "tight" if tight else None
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=dpi, bbox_inches=box))


def _to_unit(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """[-1, 1] pixels (a tensor or an array) -> [0, 1] for display."""
    return to_unit(x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x))


def loss_figure(metrics: list[dict], beta: tuple[list[float], list[float]] | None = None) -> Figure:
    """MSE (and a VAE's test KL) per epoch; with `beta` (epochs, values from
    core.nn.schedules.beta_curve) a second panel below draws the KL weight in force."""
    fig = Figure(figsize=(6.4, 5.6 if beta else 4.0))
    ax = fig.add_subplot(2, 1, 1) if beta else fig.add_subplot()
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
    if beta:
        bx = fig.add_subplot(2, 1, 2, sharex=ax)
        bx.plot(beta[0], beta[1], "-", color="tab:purple", label="β in force (each step)")
        ends = [(m["epoch"], m["beta"]) for m in metrics if m.get("beta") is not None]
        if ends:
            bx.plot(*zip(*ends), "o", color="tab:purple", label="β at the end of an epoch")
        bx.set_xlabel("epoch")
        bx.set_ylabel("β (weight of the KL term)")
        bx.set_ylim(bottom=0)
        bx.grid(alpha=0.3)
        bx.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


PRIOR_SIGMAS = (1, 2, 3)


def prior_circles(ax) -> None:
    """The prior N(0, I) drawn as circles of radius 1, 2 and 3 around the origin."""
    from matplotlib.patches import Circle

    for k in PRIOR_SIGMAS:
        ax.add_patch(Circle((0, 0), k, fill=False, linestyle="--", linewidth=0.9, color="0.3", alpha=0.8))
        ax.annotate(f"{k}σ", (k * 0.7071, k * 0.7071), fontsize=7, color="0.3")
    # the whole 3σ circle and all the points, one unit the same on both axes
    reach = PRIOR_SIGMAS[-1] * 1.1
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    ax.set_xlim(min(x0, -reach), max(x1, reach))
    ax.set_ylim(min(y0, -reach), max(y1, reach))
    ax.set_aspect("equal", adjustable="box")


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
    """(N, 784) in [-1, 1] -> one grey PNG grid, upscaled by pixel repetition (no blur)."""
    from PIL import Image  # matplotlib's own PNG writer

    grid = _grid_array(images, nrow).repeat(scale, 0).repeat(scale, 1)
    pixels = Image.fromarray((grid * 255 + 0.5).clip(0, 255).astype(np.uint8), mode="L")
    return atomic_write(path, lambda f: pixels.save(f, format="png"))


def _grid_array(images: torch.Tensor, nrow: int, pad: int = 2) -> np.ndarray:
    """(N, 784) in [-1, 1] -> one (H, W) array in [0, 1], `pad` grey (0.5) pixels
    around and between cells, `nrow` cells a row: torchvision's make_grid layout,
    without importing torchvision (seconds and tens of MB in a training process)."""
    cells = _to_unit(images).reshape(-1, 28, 28)
    cols = min(nrow, len(cells))
    rows = -(-len(cells) // cols)
    grid = np.full((rows * (28 + pad) + pad, cols * (28 + pad) + pad), 0.5, dtype=np.float32)
    for k, cell in enumerate(cells):
        y, x = pad + (k // cols) * (28 + pad), pad + (k % cols) * (28 + pad)
        grid[y : y + 28, x : x + 28] = cell
    return grid


def _cell_centres(n: int) -> list[float]:
    return [2 + 30 * i + 13.5 for i in range(n)]


MANIFOLD_SIDE = 15


def manifold_figure(model, codes: torch.Tensor, gaussian: bool, n: int = MANIFOLD_SIDE) -> Figure:
    """Decodes of an n x n grid of 2-D codes, the axes labelled with the z values.

    The title says how the grid was chosen: a VAE's walks the prior's
    quantiles, an autoencoder's the range of its codes."""
    xs, ys = manifold_axes(codes, n, gaussian)
    fig = Figure(figsize=(7.0, 7.4))
    ax = fig.add_subplot()
    ax.imshow(_grid_array(manifold_grid(model, codes, n, gaussian), n), cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")
    shown = list(range(0, n, 2))
    centres = _cell_centres(n)
    ax.set_xticks([centres[i] for i in shown], [f"{xs[i]:.2f}" for i in shown], fontsize=7)
    ax.set_yticks([centres[i] for i in shown], [f"{ys[n - 1 - i]:.2f}" for i in shown], fontsize=7)
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    if gaussian:
        title = ("VAE decoder on a grid of Gaussian quantiles:\n"
                 "5% to 95% of N(0, 1) in equal steps of probability (inverse normal CDF)")
    else:
        title = "Autoencoder decoder on a grid over the range of the codes:\n1st to 99th percentile of each axis"
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


SAMPLES = 100  # decodes of z ~ N(0, I) in samples.png, 10 x 10
SAMPLE_SEED = 0  # fixed so that samples.png of two epochs or two runs compare


def prior_samples(model, n: int, device) -> torch.Tensor:
    """Decode n draws from the prior N(0, I): (n, 784)."""
    gen = torch.Generator().manual_seed(SAMPLE_SEED)
    z = torch.randn(n, model.latent, generator=gen).to(device)
    return decode(model, z)


TRAVERSAL_DPI = 100
# Exact pixel sizes (no tight bbox): a margin for the labels plus 60 px a cell.
TRAVERSAL_CELL, TRAVERSAL_LEFT, TRAVERSAL_TOP, TRAVERSAL_BOTTOM = 60, 170, 50, 40


def traversal_size(latent: int) -> tuple[int, int]:
    """(width, height) in pixels of traversals.png for a latent size."""
    return (TRAVERSAL_LEFT + 20 + TRAVERSAL_CELL * len(TRAVERSAL_VALUES),
            TRAVERSAL_TOP + TRAVERSAL_BOTTOM + TRAVERSAL_CELL * latent)


def traversal_figure(model, image: torch.Tensor, digit: int, index: int, kl_per_dim) -> Figure:
    """One row per latent dimension: the code of `image` with that dimension set to
    -3 ... +3 (in units of the prior's σ), the others kept. Rows go by KL, largest
    first: the dimensions that carry information change the digit, the quiet ones
    do nothing."""
    order, images = traversal_images(model, image, kl_per_dim)
    images = images.reshape(-1, images.shape[-1])
    values = TRAVERSAL_VALUES

    width, height = traversal_size(len(order))
    fig = Figure(figsize=(width / TRAVERSAL_DPI, height / TRAVERSAL_DPI))
    ax = fig.add_axes((TRAVERSAL_LEFT / width, TRAVERSAL_BOTTOM / height,
                       TRAVERSAL_CELL * len(values) / width, TRAVERSAL_CELL * len(order) / height))
    ax.imshow(_grid_array(images, len(values)), cmap="gray", vmin=0, vmax=1, interpolation="nearest", aspect="auto")
    ax.set_xticks(_cell_centres(len(values)), [f"{v:+.2f}".replace("+0.00", "0") for v in TRAVERSAL_VALUES], fontsize=7)
    ax.set_yticks(_cell_centres(len(order)), [f"z{d + 1}  KL {kl_per_dim[d]:.2f}" for d in order], fontsize=7)
    ax.set_xlabel("value of the moved dimension (prior σ units)", fontsize=8)
    ax.set_title(f"Traversals around test image {index} (digit {digit}), dimensions by test KL, largest first",
                 fontsize=8)
    return fig


def save_run_figures(run: Run, model, data, config, pair: tuple[int, int]) -> dict[str, str]:
    """Write every figure of a run and latents.npz; return {name: path}."""
    files: dict[str, Path] = {}
    test_x, test_y = data.test_x, data.test_y
    codes = encode(model, test_x)
    labels = test_y.cpu().numpy()

    buf = io.BytesIO()
    np.savez(buf, codes=codes.cpu().numpy(), labels=labels)
    files["latents"] = atomic_write_bytes(run.file("latents.npz"), buf.getvalue())

    vae = config.kind == "vae"
    metrics = run.metrics()
    if metrics:
        beta = beta_curve(steps_per_epoch(config), config) if vae else None
        files["loss"] = save_figure(loss_figure(metrics, beta), run.file("loss.png"))

    flat, note, (xl, yl) = latent_axes(codes)
    if vae and codes.shape[1] == 2:
        note += "; dashed: the prior N(0, I) at 1σ, 2σ, 3σ"
    fig = latent_figure(flat, labels, f"{config.kind.upper()} latent space, test set: {note}")
    fig.axes[0].set_xlabel(xl)
    fig.axes[0].set_ylabel(yl)
    if vae and codes.shape[1] == 2:
        prior_circles(fig.axes[0])
    files["latent"] = save_figure(fig, run.file("latent.png"))

    ends = test_x[list(pair)]
    frames = line_frames(model, ends, config.interp_steps)
    title = f"Decoded straight line in latent space between test images {pair[0]} and {pair[1]}"
    files["interpolation"] = save_figure(strip_figure(frames.cpu().numpy(), ends.cpu().numpy(), title), run.file("interpolation.png"))

    originals = test_x[:10]
    recon = decode(model, encode(model, originals))
    files["reconstructions"] = image_grid_png(torch.cat([originals, recon]), 10, run.file("reconstructions.png"))

    if config.latent == 2:
        files["manifold"] = save_figure(manifold_figure(model, codes, vae), run.file("manifold.png"))
    if vae:
        files["samples"] = image_grid_png(prior_samples(model, SAMPLES, codes.device), 10, run.file("samples.png"))
        if config.latent > 2:
            stats = posterior_stats(model, test_x)
            fig = traversal_figure(model, test_x[pair[0]], int(test_y[pair[0]]), pair[0], stats["kl_per_dim"])
            files["traversals"] = save_figure(fig, run.file("traversals.png"), dpi=TRAVERSAL_DPI, tight=False)
    return {k: str(v) for k, v in files.items()}
