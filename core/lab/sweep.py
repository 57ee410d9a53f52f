"""A sweep: a grid over latent size, model kind, β and seed, one ordinary run
per point, then a comparison written to one folder.

This module parses the grid, decides what each point needs (reuse a finished
twin, resume a stopped one, or train), trains points one after another in
this process (the local executor; core.lab.sweep_ray runs them as Ray tasks), and
writes the summary. Every run is an ordinary run folder under the same root
as `aekl train`'s, so a run trained by hand with an identical config is
reused too.

    <root>/sweep-<YYYYmmdd-HHMMSS>/
        sweep.json            every run, and mean ± std over seeds per configuration
        sweep.png             test MSE against latent size, one line per kind/β, spread drawn
        reconstructions.png   10 test digits: originals on top, one row per configuration
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any, Callable

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from core.config import KINDS, AEConfig
from core.errors import AeklError, BadInput, RunError
from core.runfolder.runs import Run, atomic_write, atomic_write_json

# Figures are saved at a fixed pixel size (no tight bbox) so that their shape
# is a contract the tests can check: width x height in pixels.
DPI = 100
PLOT_SIZE = (640, 400)
CELL = 80  # pixels per digit in the reconstruction grid
LABEL_W = 100  # left margin for the row labels
TITLE_H = 40  # top margin for the title

class Action(str, Enum):
    """What the sweep does with one point of its grid."""

    REUSE = "reuse"  # a finished twin run exists
    RESUME = "resume"  # a stopped or interrupted twin exists
    TRAIN = "train"

    def __str__(self) -> str:
        return self.value

    @property
    def done(self) -> str:
        return {Action.REUSE: "reused", Action.RESUME: "resumed", Action.TRAIN: "trained"}[self]


class Point(str, Enum):
    """Where one point of a sweep is: a run's Status as the sweep sees it."""

    QUEUED = "queued"
    REUSED = "reused"
    TRAINING = "training"
    FINISHED = "finished"
    STOPPED = "stopped"  # resumes next time
    FAILED = "failed"
    CANCELLED = "cancelled"  # never started

    def __str__(self) -> str:
        return self.value

    @property
    def done(self) -> bool:
        return self in (Point.REUSED, Point.FINISHED)


# A progress callback: report(index of the job, Point, **details); the details
# are epoch, epochs, step, steps (training) or detail (a short text).
Report = Callable[..., None]


# --- the grid ----------------------------------------------------------------


def parse_list(text: str, field: str, convert: Callable[[str], Any], what: str) -> list:
    """Comma-separated values of one field; empty items, bad values and repeats are errors."""
    items = [item.strip() for item in str(text).split(",")]
    if items == [""]:
        raise BadInput(field=field, value=text, rule="must list at least one value")
    if "" in items:
        raise BadInput(field=field, value=text, rule=f"must be a comma-separated list of {what} with no empty item")
    try:
        values = [convert(item) for item in items]
    except ValueError:
        raise BadInput(field=field, value=text, rule=f"must be a comma-separated list of {what}") from None
    seen = set()
    for item, value in zip(items, values):
        if value in seen:
            raise BadInput(field=field, value=text, rule=f"must not repeat a value ({item} is given twice)")
        seen.add(value)
    return values


def _kind(text: str) -> str:
    if text.lower() not in KINDS:
        raise ValueError(text)
    return text.lower()


@dataclass(frozen=True)
class Grid:
    latents: list[int]  # ascending: the plot's x axis
    kinds: list[str]  # in KINDS order
    betas: list[float]  # the VAE β values; AE runs always keep the default β
    seeds: list[int]  # ascending

    def configs(self, base: AEConfig) -> list[AEConfig]:
        """One config per point, grouped by kind, β and latent size, seeds innermost."""
        out = []
        for kind in self.kinds:
            # β has no effect on an AE; keeping the default makes an AE point
            # the twin of a plain `aekl train --kind ae` run with the same options.
            betas = self.betas if kind == "vae" else [AEConfig.beta]
            for beta in betas:
                for z in self.latents:
                    for seed in self.seeds:
                        out.append(replace(base, kind=kind, beta=beta, latent=z, seed=seed).validate())
        return out


def parse_grid(latent: str, kind: str, beta: str | None, seeds: str) -> tuple[Grid, list[str]]:
    """The grid from the four comma-separated lists, and notes to show the user.

    `beta` None means not given: VAEs use the default β.
    """
    latents = parse_list(latent, "latent", int, "integers")
    for z in latents:
        if z < 1:
            raise BadInput(field="latent", value=z, rule="must be at least 1")
    kinds = parse_list(kind, "kind", _kind, "model kinds (ae, vae)")
    seed_values = parse_list(seeds, "seeds", int, "integers")
    for s in seed_values:
        if s < 0:
            raise BadInput(field="seeds", value=s, rule="must be 0 or more")
    notes = []
    if beta is None:
        betas = [AEConfig.beta]
    else:
        betas = parse_list(beta, "beta", float, "numbers")
        for b in betas:
            if not (math.isfinite(b) and b >= 0):
                raise BadInput(field="beta", value=b, rule="must be a non-negative number")
        if "vae" not in kinds:
            raise BadInput(field="beta", value=beta, rule="only varies VAEs, and this grid has only AEs")
        if "ae" in kinds:
            notes.append(f"β varies the VAE runs only; the AE runs have no KL term and keep β = {AEConfig.beta:g}")
    grid = Grid(sorted(latents), [k for k in KINDS if k in kinds], sorted(betas), sorted(seed_values))
    return grid, notes


def config_key(config: AEConfig) -> tuple:
    """What the seeds of one configuration share."""
    return (config.kind, config.beta if config.kind == "vae" else None, config.latent)


def config_label(config: AEConfig) -> str:
    beta = f" β={config.beta:g}" if config.kind == "vae" else ""
    return f"{config.kind}{beta} z={config.latent}"


# --- planning ----------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    config: AEConfig
    action: Action
    run: Run | None  # the run to reuse or resume; None until a new one is made

    @property
    def label(self) -> str:
        return f"{config_label(self.config)} seed {self.config.seed}"


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


def _loads(run: Run) -> bool:
    """Whether the run's weights load into its model: a reused run's figures need
    them, and a checkpoint copied in from another run passes every cheaper check."""
    from core.nn.models import load_trained

    try:
        load_trained(run, "cpu")
    except RunError:
        return False
    return True


def plan(configs: list[AEConfig], root: Path, force: bool = False) -> list[Job]:
    """What each point needs: a finished twin is reused, a stopped (or
    interrupted, or failed) twin with a checkpoint is resumed, as `aekl train
    --resume` would.

    "Twin" means an identical config dict, seed, device and subset included. A
    run that is training (its lock is held) is not touched.
    """
    jobs = []
    root = Path(root)
    for config in configs:
        chosen: Job | None = None
        if not force:
            for run in _matching_runs(root, config):
                snap = run.snapshot()  # a damaged run is neither reused nor resumed: `aekl runs` reports it
                if snap.status.finished and snap.done and _loads(run):
                    chosen = Job(config, Action.REUSE, run)
                    break
                if snap.status.resumable and run.file("checkpoint.pt").is_file():
                    chosen = chosen or Job(config, Action.RESUME, run)
        jobs.append(chosen or Job(config, Action.TRAIN, None))
    return jobs


# --- training one point (both executors) --------------------------------------


def follow(events, epochs: int, report: Report) -> tuple[Point, str]:
    """Turn one run's events into progress reports; return (state, detail) at its end."""
    from core.events import EpochEnd, Finished, Progress, Started, Stopped

    steps = 1
    for event in events:
        if isinstance(event, Started):
            steps = event.steps_per_epoch
            report(Point.TRAINING, epoch=event.start_epoch + 1, epochs=epochs, step=event.start_step, steps=steps)
        elif isinstance(event, Progress):
            report(Point.TRAINING, epoch=event.epoch, epochs=epochs, step=event.step, steps=event.steps)
        elif isinstance(event, EpochEnd) and event.epoch < epochs:
            report(Point.TRAINING, epoch=event.epoch + 1, epochs=epochs, step=0, steps=steps)
        elif isinstance(event, Finished):
            return Point.FINISHED, f"test MSE {event.test_mse:.4f}"
        elif isinstance(event, Stopped):
            return Point.STOPPED, f"after {event.epoch} epochs and {event.step} steps; resumable"
    raise RunError("training ended without a final event")  # fit always ends with one


@dataclass
class Outcome:
    state: Point
    run: Run | None
    detail: str = ""


def run_local(jobs: list[Job], root: Path, data_dir, data, should_stop: Callable[[], bool],
              report: Report) -> list[Outcome]:
    """The local executor: each point in turn, in this process, on `data` (MNIST
    loaded once for the whole grid), each run prepared as `aekl train` prepares it.

    A run folder is made only when its turn comes, so a stop leaves no empty
    folders behind; the run in progress stops at a step boundary and resumes.
    """
    from core.engine.session import RunRequest, prepare

    outcomes = []
    for i, job in enumerate(jobs):
        if job.action is Action.REUSE:
            report(i, Point.REUSED, detail=f"finished run {job.run.id}")
            outcomes.append(Outcome(Point.REUSED, job.run))
            continue
        if should_stop():
            report(i, Point.CANCELLED)
            outcomes.append(Outcome(Point.CANCELLED, None))
            continue
        resume = job.action is Action.RESUME
        request = RunRequest(None if resume else job.config, Path(root), data_dir=data_dir,
                             resume=job.run.id if resume else None, data=data)
        run = job.run
        try:
            with prepare(request) as ready:
                run = ready.journal.run
                ready.journal.figures_on_stop = False  # a stopped sweep ends within a second or two
                state, detail = follow(ready.fit(should_stop), job.config.epochs,
                                       lambda state, **kw: report(i, state, **kw))
        except AeklError as exc:
            state, detail = Point.FAILED, str(exc)
        report(i, state, detail=detail)
        outcomes.append(Outcome(state, run, detail))
    return outcomes


# --- the summary -------------------------------------------------------------


def run_summary(run: Run, action: str) -> dict[str, Any]:
    """One run of the sweep, read back from its folder."""
    config = run.config()
    metrics = run.metric_rows(config)
    if not metrics:
        raise RunError(f"run {run.path} has no finished epoch to summarise")
    last = metrics[-1]
    return {
        "kind": config.kind,
        "beta": config.beta,
        "latent": config.latent,
        "seed": config.seed,
        "test_mse": last.test_mse,
        "train_mse": last.train_mse,
        "epochs": len(metrics),
        "seconds": round(sum(m.seconds for m in metrics), 3),  # training time, evaluation excluded
        "params": param_count(config),
        "run_id": run.id,
        "run_dir": str(run.path),
        "action": action,
    }


def param_count(config: AEConfig) -> int:
    """Parameters of the model `config` builds (building it costs milliseconds)."""
    from core.nn.models import build_model, count_params

    return count_params(build_model(config))


def mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (n - 1); no spread from a single seed."""
    mean = float(np.mean(values))
    return mean, (float(np.std(values, ddof=1)) if len(values) > 1 else None)


def aggregate(rows: list[dict]) -> list[dict[str, Any]]:
    """One entry per configuration (kind, β, latent), over its seeds, in row order."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["kind"], r["beta"] if r["kind"] == "vae" else None, r["latent"]), []).append(r)
    out = []
    for (kind, beta, latent), members in groups.items():
        test_mean, test_std = mean_std([r["test_mse"] for r in members])
        train_mean, train_std = mean_std([r["train_mse"] for r in members])
        out.append({
            "kind": kind,
            "beta": beta,  # null for AEs: β does not enter their loss
            "latent": latent,
            "seeds": [r["seed"] for r in members],
            "test_mse_mean": test_mean,
            "test_mse_std": test_std,
            "train_mse_mean": train_mean,
            "train_mse_std": train_std,
            "seconds_mean": round(float(np.mean([r["seconds"] for r in members])), 3),
            "epochs": members[0]["epochs"],
            "params": members[0]["params"],
            "actions": [r["action"] for r in members],
            "run_ids": [r["run_id"] for r in members],
        })
    return out


def group_label(entry: dict) -> str:
    beta = f" β={entry['beta']:g}" if entry["kind"] == "vae" else ""
    return f"{entry['kind']}{beta} z={entry['latent']}"


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


def digit_indices(test_y) -> list[int]:
    """The first test image of each digit 0-9: the same 10 images for every row."""
    labels = test_y.cpu().numpy()
    return [int(np.flatnonzero(labels == d)[0]) for d in range(10) if (labels == d).any()]


def reconstructions(run_dirs: list[str], data, device) -> tuple[list[int], np.ndarray]:
    """(1 + len(run_dirs), 10, 784) in [-1, 1]: the originals, then each run's decodings."""
    from core.nn.latent import decode, encode
    from core.nn.models import load_trained

    idx = digit_indices(data.test_y)
    originals = data.test_x[idx]
    grid = [originals.cpu().numpy()]
    for run_dir in run_dirs:
        model, _ = load_trained(Run(Path(run_dir)), device)
        grid.append(decode(model, encode(model, originals.to(device))).cpu().numpy())
    return idx, np.stack(grid)


def _save_fixed(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=DPI))


def mse_figure(configs: list[dict], rows: list[dict]) -> Figure:
    """Test MSE against latent size: per kind/β the mean over seeds, a band of ± one
    standard deviation with error bars, and each seed as a dot."""
    fig = Figure(figsize=(PLOT_SIZE[0] / DPI, PLOT_SIZE[1] / DPI))
    ax = fig.add_subplot()
    series: dict[tuple, list[dict]] = {}
    for c in configs:
        series.setdefault((c["kind"], c["beta"]), []).append(c)
    for n, ((kind, beta), members) in enumerate(series.items()):
        colour = f"C{n % 10}"
        members = sorted(members, key=lambda c: c["latent"])
        z = np.array([c["latent"] for c in members])
        mean = np.array([c["test_mse_mean"] for c in members])
        std = np.array([c["test_mse_std"] or 0.0 for c in members])
        label = kind.upper() + (f" β={beta:g}" if kind == "vae" else "")
        ax.errorbar(z, mean, yerr=std, fmt="o-", color=colour, capsize=4, label=label)
        ax.fill_between(z, mean - std, mean + std, color=colour, alpha=0.18, linewidth=0)
        seeds = [r for r in rows if r["kind"] == kind and (kind != "vae" or r["beta"] == beta)]
        ax.plot([r["latent"] for r in seeds], [r["test_mse"] for r in seeds], ".", color=colour, alpha=0.45)
    latents = sorted({c["latent"] for c in configs})
    ax.set_xscale("log", base=2)
    ax.set_xticks(latents, [str(v) for v in latents])
    ax.minorticks_off()
    ax.set_xlabel("latent size (log-2 scale)")
    ax.set_ylabel("test MSE per pixel (data in [-1, 1])")
    n_seeds = max(len(c["seeds"]) for c in configs)
    spread = f"mean ± std over {n_seeds} seeds, dots: single seeds" if n_seeds > 1 else "one seed"
    ax.set_title(f"Reconstruction error by latent size ({spread})", fontsize=10)
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
                ax.set_ylabel(labels[r], rotation=0, ha="right", va="center", fontsize=9,
                              color="tab:blue" if r == 0 else "black")
    fig.suptitle("Same test digits reconstructed by each configuration (lowest seed)", y=1 - 12 / h,
                 va="top", fontsize=11)
    return fig


def write_sweep(folder: Path, base: AEConfig, grid: Grid, rows: list[dict], data, device,
                executor: str = "local") -> dict[str, Any]:
    """Write the three files of a finished sweep; return the summary object."""
    configs = aggregate(rows)
    first_seed = {}
    for r in rows:  # rows hold seeds in ascending order within a configuration
        first_seed.setdefault((r["kind"], r["beta"] if r["kind"] == "vae" else None, r["latent"]), r["run_dir"])
    idx, images = reconstructions(list(first_seed.values()), data, device)
    files = {
        "plot": str(_save_fixed(mse_figure(configs, rows), folder / "sweep.png")),
        "reconstructions": str(_save_fixed(
            recon_figure(images, ["original", *[group_label(c) for c in configs]]),
            folder / "reconstructions.png",
        )),
    }
    config = base.to_dict()
    for varied in ("latent", "kind", "beta", "seed"):
        config.pop(varied)
    summary = {
        "sweep": folder.name,
        "path": str(folder),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "executor": executor,
        "kinds": grid.kinds,
        "latents": grid.latents,
        "betas": grid.betas if "vae" in grid.kinds else [],
        "seeds": grid.seeds,
        "config": config,  # the options every run shares
        "digits": idx,  # test-set indices of the reconstructed images
        "configs": configs,
        "runs": rows,
        "files": {**files, "summary": str(folder / "sweep.json")},
    }
    atomic_write_json(folder / "sweep.json", summary)
    return summary
