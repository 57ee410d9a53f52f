"""Commands that read finished (or stopped) runs: runs, show, interpolate, latent."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import math

import typer
from rich.table import Table

from core.cli.base import app, err, out, print_json
from core.config import MAX_INTERP_STEPS, RUNS_DIR, AEConfig
from core.present.status import cell

RunsDir = typer.Option(RUNS_DIR, "--out", help="Folder that holds run folders.")
JsonOut = typer.Option(False, "--json", help="Print JSON on stdout instead of tables.")


def elbo_table(rows: list[dict]) -> Table | None:
    """A VAE's ELBO in parts per epoch, from metrics rows; None for an autoencoder
    (or rows written before these numbers existed)."""
    rows = [m for m in rows if "kl_per_dim" in m]
    if not rows:
        return None
    table = Table(title="ELBO in parts, test set", title_justify="left", caption_justify="left",
                  caption="recon: MSE per pixel decoding the mean code; KL: nats per image; β·KL: what the "
                          "loss charges, β·Σ_j max(λ, KL_j); total = recon + β·KL/784 (the loss); −ELBO: nats "
                          "per image with z sampled from q (bits/dim below)")
    for col in ("epoch", "β", "recon", "KL", "β·KL", "total", "−ELBO", "train KL", "active"):
        table.add_column(col, justify="right")
    latent = len(rows[0]["kl_per_dim"])
    for m in rows:
        table.add_row(
            str(m["epoch"]), cell(m.get("beta"), ".3g"), cell(m["test_mse"]), cell(m.get("test_kl"), ".2f"),
            cell(m.get("test_beta_kl"), ".2f"), cell(m.get("test_loss")), cell(_finite(m, "test_nelbo"), ".1f"),
            cell(m.get("train_kl"), ".2f"),
            f"{m.get('active_units', '-')}/{latent}",
        )
    return table


def print_elbo(rows: list[dict]) -> None:
    """The ELBO table, the last epoch's KL per dimension, and the collapse
    warning if there is one. Prints nothing for an autoencoder."""
    from core.present.elbo import collapse_warning

    table = elbo_table(rows)
    if table is None:
        return
    out.print(table)
    last = [m for m in rows if "kl_per_dim" in m][-1]
    per_dim = last["kl_per_dim"]
    if isinstance(per_dim, list) and all(_finite({"v": v}, "v") is not None for v in per_dim):
        out.print(f"KL per latent dimension, epoch {last['epoch']} (nats, test mean; sum {sum(per_dim):.2f}): "
                  + "  ".join(f"z{d + 1} {v:.2f}" for d, v in enumerate(per_dim)))
    print_elbo_units(last)
    warning = collapse_warning(per_dim)
    if warning:
        err.print(f"[yellow]warning[/]: {warning}")


def _finite(row: dict, key: str):
    """A number from an untrusted row, or None."""
    v = row.get(key)
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def print_elbo_units(row: dict) -> None:
    """The ELBO and IWAE lines of one metrics row, with the likelihood they assume."""
    from core.present.elbo_units import FREE_BITS, LIKELIHOOD, UNITS, elbo_lines

    lines = elbo_lines(row)
    for line in lines:
        out.print(line, markup=False, highlight=False)
    if lines:
        for note in (LIKELIHOOD, UNITS, FREE_BITS):
            out.print(f"[dim]{note}[/]", highlight=False)


@app.command("runs")
def list_command(out_dir: Path = RunsDir, json_out: bool = JsonOut) -> None:
    """List runs: id, kind, latent size, epochs, best test MSE, status."""
    from core.runfolder.runs import snapshots

    runs = snapshots(out_dir)
    if json_out:
        print_json([s.to_json() for s in runs])
        return
    if not runs:
        err.print(f"no runs under {out_dir} yet; start one with: aekl train --latent 2")
        return
    from rich.box import SIMPLE_HEAD

    table = Table(title=f"runs in {out_dir}", title_justify="left", box=SIMPLE_HEAD, pad_edge=False)
    # The id is what every other command takes, and the status the verdict:
    # never cut them; the epochs may wrap.
    table.add_column("id", no_wrap=True, min_width=max(len(s.id) for s in runs))
    table.add_column("model", no_wrap=True)
    table.add_column("epochs")
    table.add_column("best test MSE", justify="right")
    table.add_column("status", no_wrap=True, min_width=max(len(s.status.word) for s in runs))
    for s in runs:
        model = f"{s.config.kind} z{s.config.latent}" if s.config else "?"
        table.add_row(s.id, model, s.epoch_text, cell(s.best_test_mse), f"[{s.status.colour}]{s.status.word}[/]")
    out.print(table)
    for s in runs:
        if s.reason:
            out.print(f"{s.id}: {s.status}: {s.reason}", soft_wrap=True, markup=False, highlight=False)


@app.command()
def show(run_id: str = typer.Argument(..., help="Run id (folder name)."), out_dir: Path = RunsDir,
         json_out: bool = JsonOut,
         nll: bool = typer.Option(False, "--nll", help="VAE: compute the test ELBO and the IWAE bound on "
                                                      "-ln p(x) now, from the checkpoint (needs torch)."),
         k: Optional[int] = typer.Option(None, "--k", help="Importance samples per test image for --nll "
                                                           "(1 to 5000; default 64)."),
         device: Optional[str] = typer.Option(None, help="Device for --nll: auto, cpu, cuda or mps "
                                                         "(default cpu).")) -> None:
    """Show a run's config, status, per-epoch metrics and files."""
    from core.errors import BadInput
    from core.figures.background import wait_drawn
    from core.runfolder.runs import open_sound

    if nll:
        _show_nll(run_id, out_dir, 64 if k is None else k, device or "cpu", json_out)
        return
    for field, value in (("k", k), ("device", device)):  # silently unused, they would mislead
        if value is not None:
            raise BadInput(field=field, value=value, rule="applies only with --nll")
    run = open_sound(run_id, out_dir)
    wait_drawn(run)  # a just-finished run's figures may still be drawing in a child process
    snap = run.snapshot()
    metrics = [m.to_dict() for m in run.metric_rows(snap.config)]
    files = sorted(p.name for p in run.path.iterdir() if not p.name.startswith("."))
    if json_out:
        print_json({**snap.to_json(), "config": snap.config.to_dict(), "status": run.status(),
                    "state": str(snap.status), "metrics": metrics, "files": files})
        return
    out.print(f"[bold]{run.id}[/]  [{snap.status.colour}]{snap.status.word}[/]  {snap.epoch_text}  ({run.path})")
    if snap.reason:
        out.print(f"why: {snap.reason}", soft_wrap=True, markup=False, highlight=False)
    cfg = Table(show_header=False, box=None)
    for key, value in snap.config.to_dict().items():
        cfg.add_row(key, str(value))
    out.print(cfg)
    if metrics:
        table = Table(title="metrics", title_justify="left")
        for col in ("epoch", "train MSE", "test MSE", "seconds", "img/s"):
            table.add_column(col, justify="right")
        for m in metrics:
            table.add_row(str(m["epoch"]), cell(m["train_mse"]), cell(m["test_mse"]), cell(m["seconds"], ".2f"),
                          cell(m["samples_per_s"], ",.0f"))
        out.print(table)
        print_elbo(metrics)  # VAE only
    out.print("files: " + ", ".join(files))


def _show_nll(run_id: str, out_dir: Path, k: int, device: str, json_out: bool) -> None:
    """`aekl show RUN --nll`: the ELBO and the k-sample IWAE bound of the test set, now."""
    from core.config import check_range
    from core.errors import BadInput

    check_range("k", k, 1, 5000)
    run, model, config, data = _load(run_id, out_dir, device)
    if config.kind != "vae":
        raise BadInput(field="nll", rule=f"needs a VAE run; {run.id} is a plain autoencoder (no q(z|x))")
    from core.nn.bound import iwae_bound, sampled_elbo

    row = {**sampled_elbo(model, data.test_x), **iwae_bound(model, data.test_x, k)}
    row["test_kl"] = row["test_nelbo"] - row["test_recon_nats"]
    if json_out:
        print_json({"run": run.id, "images": len(data.test_x), **row})
        return
    out.print(f"[bold]{run.id}[/]: {len(data.test_x):,} test images, checkpoint of epoch "
              f"{run.record().epoch}")
    print_elbo_units(row)


def _load(run_id: str, out_dir: Path, device: str):
    from core.data.mnist import load_mnist
    from core.figures.background import wait_drawn
    from core.nn.models import load_trained, pick_device
    from core.runfolder.runs import open_sound

    dev = pick_device(device)  # an unknown device is bad input, whatever the run holds
    run = open_sound(run_id, out_dir)
    wait_drawn(run)  # a just-finished run's figures may still be drawing in a child process
    model, config = load_trained(run, dev)
    return run, model, config, load_mnist(None, dev, subset=1)


@app.command()
def interpolate(
    run_id: str = typer.Argument(..., help="Run id (folder name)."),
    from_index: Optional[int] = typer.Option(None, help="Test image to start from."),
    to_index: Optional[int] = typer.Option(None, help="Test image to end at."),
    steps: int = typer.Option(AEConfig.interp_steps, help=f"Intermediate frames (5 to {MAX_INTERP_STEPS})."),
    method: str = typer.Option("linear", help="linear (straight line) or slerp."),
    out_dir: Path = RunsDir,
    device: str = typer.Option("cpu", help="auto, cpu, cuda or mps."),
    json_out: bool = JsonOut,
) -> None:
    """Decode the line between the codes of two test images; save a PNG and draw it here."""
    from core.config import check_range
    from core.nn.latent import MIN_STEPS, check_method, decode, encode, interpolation_pair, path_points
    from rich.text import Text

    from core.figures.plots import save_figure, strip_figure
    from core.figures.render import pick_frames, resize, strip_segments, to_unit

    check_range("interp_steps", steps, MIN_STEPS, MAX_INTERP_STEPS)  # before loading anything
    check_method(method)
    run, model, config, data = _load(run_id, out_dir, device)
    i, j = interpolation_pair(data.test_y, from_index, to_index)
    ends = data.test_x[[i, j]]
    z0, z1 = encode(model, ends)
    points = path_points(z0, z1, steps, method)
    frames = decode(model, points).cpu().numpy()
    name = f"interpolation-{i}-{j}-{method}.png"
    title = f"{method} path in latent space between test images {i} and {j}"
    path = save_figure(strip_figure(frames, ends.cpu().numpy(), title), run.file(name))
    if json_out:
        print_json({"run": run.id, "from": i, "to": j, "method": method, "steps": steps,
                    "codes": points.cpu().tolist(), "png": str(path)})
        return
    # Fit the terminal's width, as the TUI's strip does: at 80 columns that is
    # seven evenly spaced frames of 10 pixels rather than ten wrapped ones.
    shown, side = pick_frames(len(frames), out.width, rows=14)
    if side >= 2:
        images = [resize(to_unit(frames[k].reshape(28, 28)), side) for k in shown]
        out.print(Text.assemble(*strip_segments(images), no_wrap=True, overflow="crop"))
    if len(shown) < len(frames):
        out.print(f"(frames {', '.join(str(k) for k in shown)} of 0-{len(frames) - 1} drawn; the PNG has all)")
    out.print(f"start {i} (digit {int(data.test_y[i])}) -> end {j} (digit {int(data.test_y[j])}), "
              f"{steps} intermediate frames; saved {path}")


@app.command()
def latent(
    run_id: str = typer.Argument(..., help="Run id (folder name)."),
    out_dir: Path = RunsDir,
    device: str = typer.Option("cpu", help="auto, cpu, cuda or mps."),
) -> None:
    """Re-draw a run's figures (latent scatter, interpolation, manifold ...) from its checkpoint."""
    from core.nn.latent import interpolation_pair
    from core.figures.plots import save_run_figures

    run, model, config, data = _load(run_id, out_dir, device)
    pair = interpolation_pair(data.test_y, config.interp_from, config.interp_to)
    for label, path in save_run_figures(run, model, data, config, pair).items():
        out.print(f"  {label:16s} {path}")


@app.command()
def stop(
    run_id: str = typer.Argument(..., help="Run id (folder name) of a run that is training."),
    out_dir: Path = RunsDir,
    wait: float = typer.Option(120.0, help="Seconds to wait for the checkpoint and figures (0: do not wait)."),
) -> None:
    """Stop a training run gracefully, wherever it was started: it saves its checkpoint and figures."""
    from core.runfolder.control import request_stop, wait_stopped
    from core.errors import BadInput, TrainingFailed
    from core.runfolder.runs import open_run

    if not 0 <= wait <= 86400:
        raise BadInput(field="wait", value=wait, rule="must be between 0 and 86400 seconds")
    run = open_run(run_id, out_dir)
    pid = request_stop(run)
    err.print(f"asked process {pid} to stop run {run.id}")
    if wait and not wait_stopped(run, wait):
        raise TrainingFailed(f"run {run.id} has not stopped after {wait:g}s; it may still be writing its files")
    if wait:
        snap = run.snapshot()
        out.print(f"{run.id}: {snap.status}, {snap.epoch_text}" + (f" ({snap.reason})" if snap.reason else ""))


@app.command()
def movie(run_id: str = typer.Argument(..., help="Run id (folder name)."), out_dir: Path = RunsDir,
          json_out: bool = JsonOut) -> None:
    """Animate a run's history: latent.gif (test codes by digit) and interpolation.gif, one frame per epoch."""
    from rich.progress import Progress

    from core.figures.movie import make_movies, snapshots
    from core.runfolder.runs import open_sound

    run = open_sound(run_id, out_dir)
    count = len(snapshots(run))
    with Progress(console=err, disable=json_out, transient=True) as bar:
        task = bar.add_task("drawing frames", total=2 * count)
        files, frames = make_movies(run, tick=lambda: bar.advance(task))
    if json_out:
        print_json({"run": run.id, "frames": frames, "files": files})
        return
    for label, path in files.items():
        out.print(f"  {label:16s} {path}  ({frames} frames)")
