"""A sweep over latent sizes: plan which runs to train, reuse or resume, then
summarise them in one folder (sweep.json, sweep.png, reconstructions.png).

The training itself is core.train.fit, driven by the CLI; this module only
decides what each latent size needs and writes the comparison. Every run is
an ordinary run folder under the same root as `aekl train`'s, so a run trained
by hand with an identical config is reused too.

    <root>/sweep-<YYYYmmdd-HHMMSS>/
        sweep.json            summary (the object `aekl sweep --json` prints)
        sweep.png             test and train MSE against latent size, log-2 axis
        reconstructions.png   10 test digits: originals on top, one row per size
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from core.config import AEConfig
from core.errors import BadInput, RunError
from core.runs import Run, atomic_write, atomic_write_json

# Figures are saved at a fixed pixel size (no tight bbox) so that their shape
# is a contract the tests can check: width x height in pixels.
DPI = 100
PLOT_SIZE = (640, 400)
CELL = 80  # pixels per digit in the reconstruction grid
LABEL_W = 100  # left margin for the row labels
TITLE_H = 40  # top margin for the title


@dataclass(frozen=True)
class Planned:
    config: AEConfig
    run: Run | None  # an existing run to reuse or resume; None: train a new one
    action: str  # "reuse", "resume" or "train"


def parse_latents(values: tuple[int, ...]) -> list[int]:
    """Unique sizes, ascending (the plot's x axis); each must be at least 1."""
    bad = [v for v in values if v < 1]
    if bad:
        raise BadInput(field="latent", value=bad[0], rule="sizes must be at least 1")
    return sorted(set(values))


def _matching_runs(root: Path, config: AEConfig) -> list[Run]:
    """Run folders under `root` whose config.json equals `config`, newest first."""
    want = config.to_dict()
    found = []
    if not root.is_dir():
        return found
    for path in sorted(root.iterdir(), reverse=True):
        if not (path / "config.json").is_file():
            continue
        run = Run(path)
        try:
            if run.config().to_dict() == want:
                found.append(run)
        except RunError:
            continue  # a damaged run is never reused; `aekl runs` reports it
    return found


def plan(base: AEConfig, latents: list[int], root: Path, force: bool = False) -> list[Planned]:
    """What each latent size needs: a finished twin is reused, a stopped twin resumed.

    "Twin" means an identical config dict, device and subset included. A run
    left "running" is not touched: it may be alive in another process (or was
    killed; `aekl train --resume` can pick it up deliberately).
    """
    steps = []
    for z in latents:
        config = replace(base, latent=z).validate()
        chosen: Planned | None = None
        if not force:
            for run in _matching_runs(root, config):
                status = run.status().get("status")
                if status == "finished" and run.metrics():
                    chosen = Planned(config, run, "reuse")
                    break
                if status == "stopped" and run.file("checkpoint.pt").is_file():
                    chosen = chosen or Planned(config, run, "resume")
        steps.append(chosen or Planned(config, None, "train"))
    return steps


def run_summary(run: Run, action: str) -> dict[str, Any]:
    """One row of the sweep table, read back from the run folder."""
    config, metrics = run.config(), run.metrics()
    if not metrics:
        raise RunError(f"run {run.path} has no finished epoch to summarise")
    last = metrics[-1]
    return {
        "latent": config.latent,
        "test_mse": last["test_mse"],
        "train_mse": last["train_mse"],
        "epochs": len(metrics),
        "seconds": round(sum(m["seconds"] for m in metrics), 3),  # training time, evaluation excluded
        "params": param_count(config),
        "run_id": run.id,
        "run_dir": str(run.path),
        "action": action,
    }


def param_count(config: AEConfig) -> int:
    """Parameters of the model `config` builds (building it costs milliseconds)."""
    from core.models import build_model, count_params

    return count_params(build_model(config))


def sweep_folder(root: Path) -> Path:
    base = Path(root) / f"sweep-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = base, 1
    while path.exists():  # two sweeps in the same second
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    try:
        path.mkdir(parents=True)
    except OSError as exc:
        raise RunError(f"cannot create sweep folder {path}: {exc.strerror}") from None
    return path


def digit_indices(test_y: torch.Tensor) -> list[int]:
    """The first test image of each digit 0-9: the same 10 images for every row."""
    labels = test_y.cpu().numpy()
    return [int(np.flatnonzero(labels == d)[0]) for d in range(10) if (labels == d).any()]


def reconstructions(rows: list[dict], data, device) -> tuple[list[int], np.ndarray]:
    """(1 + len(rows), 10, 784) in [-1, 1]: the originals, then each run's decodings."""
    from core.latent import decode, encode
    from core.models import load_trained
    from core.runs import Run as _Run

    idx = digit_indices(data.test_y)
    originals = data.test_x[idx]
    grid = [originals.cpu().numpy()]
    for row in rows:
        model, _ = load_trained(_Run(Path(row["run_dir"])), device)
        grid.append(decode(model, encode(model, originals)).cpu().numpy())
    return idx, np.stack(grid)


def _save_fixed(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=DPI))


def mse_figure(rows: list[dict], kind: str) -> Figure:
    fig = Figure(figsize=(PLOT_SIZE[0] / DPI, PLOT_SIZE[1] / DPI))
    ax = fig.add_subplot()
    z = [r["latent"] for r in rows]
    ax.plot(z, [r["test_mse"] for r in rows], "o-", label="test MSE")
    ax.plot(z, [r["train_mse"] for r in rows], "s--", alpha=0.7, label="train MSE (mean over the last epoch)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(z, [str(v) for v in z])
    ax.minorticks_off()
    ax.set_xlabel("latent size (log-2 scale)")
    ax.set_ylabel("MSE per pixel (data in [-1, 1])")
    ax.set_title(f"{kind.upper()} reconstruction error by latent size")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def recon_size(n_rows: int, n_cols: int = 10) -> tuple[int, int]:
    """Pixel size of reconstructions.png for `n_rows` rows (originals included)."""
    return LABEL_W + CELL * n_cols, TITLE_H + CELL * n_rows


def recon_figure(images: np.ndarray, labels: list[str]) -> Figure:
    """images: (rows, cols, 784) in [-1, 1]; one label per row, at its left."""
    n_rows, n_cols = images.shape[:2]
    w, h = recon_size(n_rows, n_cols)
    fig = Figure(figsize=(w / DPI, h / DPI))
    for r in range(n_rows):
        for c in range(n_cols):
            # Axes placed in pixels, so every digit is an exact CELL x CELL square.
            left, bottom = (LABEL_W + c * CELL) / w, (h - TITLE_H - (r + 1) * CELL) / h
            ax = fig.add_axes((left + 2 / w, bottom + 2 / h, (CELL - 4) / w, (CELL - 4) / h))
            img = np.clip((images[r, c] + 1) / 2, 0, 1).reshape(28, 28)
            ax.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(labels[r], rotation=0, ha="right", va="center", fontsize=10,
                              color="tab:blue" if r == 0 else "black")
    fig.suptitle("Same test digits reconstructed at each latent size", y=1 - 12 / h, va="top", fontsize=11)
    return fig


def write_sweep(folder: Path, base: AEConfig, rows: list[dict], data, device) -> dict[str, Any]:
    """Write the three files of a finished sweep; return the summary object."""
    idx, images = reconstructions(rows, data, device)
    files = {
        "plot": str(_save_fixed(mse_figure(rows, base.kind), folder / "sweep.png")),
        "reconstructions": str(_save_fixed(
            recon_figure(images, ["original", *[f"z = {r['latent']}" for r in rows]]),
            folder / "reconstructions.png",
        )),
    }
    config = base.to_dict()
    config.pop("latent")  # the one field that varies
    summary = {
        "sweep": folder.name,
        "path": str(folder),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "kind": base.kind,
        "latents": [r["latent"] for r in rows],
        "config": config,
        "digits": idx,  # test-set indices of the reconstructed images
        "runs": rows,
        "files": {**files, "summary": str(folder / "sweep.json")},
    }
    atomic_write_json(folder / "sweep.json", summary)
    return summary
