"""`aekl sweep`: one ordinary run per latent size, then a side-by-side comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from core.cli.base import app, err, out, print_json
from core.cli.train import StopFlag, consume, parse_ints
from core.config import AEConfig

D = AEConfig  # defaults live on the dataclass only


def sweep_table(summary: dict) -> Table:
    table = Table(title=f"sweep {summary['sweep']} ({summary['kind']})", title_justify="left")
    for col in ("latent", "test MSE", "train MSE", "epochs", "seconds", "params", "run"):
        table.add_column(col, justify="left" if col == "run" else "right")
    for r in summary["runs"]:
        # "run" says whether this sweep trained, resumed or reused it; folders are listed below
        table.add_row(str(r["latent"]), f"{r['test_mse']:.4f}", f"{r['train_mse']:.4f}", str(r["epochs"]),
                      f"{r['seconds']:.1f}", f"{r['params']:,}", r["action"])
    return table


@app.command()
def sweep(
    latent: str = typer.Option("2,4,8,16,32", "--latent", "-z", help="Comma-separated latent sizes."),
    kind: str = typer.Option(D.kind, help="Model kind: ae or vae."),
    epochs: int = typer.Option(D.epochs, help="Passes over the training set, per run."),
    batch_size: int = typer.Option(D.batch_size, help="Images per step."),
    lr: float = typer.Option(D.lr, help="Peak learning rate (warm-up, then cosine decay)."),
    subset: Optional[int] = typer.Option(None, help="Train on the first N training images only."),
    seed: int = typer.Option(D.seed, help="Seed for init, batch order and noise (same for every size)."),
    device: str = typer.Option(D.device, help="auto, cpu, cuda or mps."),
    out_dir: Path = typer.Option(Path("runs"), "--out", help="Folder for the run folders and the sweep folder."),
    data_dir: Optional[Path] = typer.Option(None, help="MNIST root (default: bundled copy via the cache)."),
    force: bool = typer.Option(False, help="Train new runs even where a finished run with the same config exists."),
    json_out: bool = typer.Option(False, "--json", help="Print only the summary object (JSON) on stdout."),
) -> None:
    """Train one run per latent size (reusing finished ones) and compare them.

    Writes <out>/sweep-<time>/ with sweep.json, sweep.png (test MSE against
    latent size) and reconstructions.png. Ctrl-C stops after the current run
    has saved its checkpoint; the same command again resumes it.
    """
    from core.data import load_mnist
    from core.models import pick_device
    from core.runs import new_run
    from core.sweep import parse_latents, plan, run_summary, sweep_folder, write_sweep
    from core.train import Stopped, fit, preflight

    base = AEConfig(kind=kind, epochs=epochs, batch_size=batch_size, lr=lr, subset=subset,
                    seed=seed, device=device).validate()
    latents = parse_latents(parse_ints(latent, "--latent"))
    steps = plan(base, latents, out_dir, force)
    dev = pick_device(base.device)
    data = load_mnist(data_dir, dev, base.subset)
    preflight(base, data)  # e.g. a batch larger than the subset: fail before any folder exists

    rows = []
    with StopFlag() as stop:
        for i, step in enumerate(steps, 1):
            if stop():
                break
            run = step.run
            where = f"[{i}/{len(steps)}] z={step.config.latent}"
            if step.action == "reuse":
                err.print(f"{where}: reusing finished run {run.id}")
            else:
                if run is None:
                    run = new_run(step.config, out_dir)
                err.print(f"{where}: {'resuming' if step.action == 'resume' else 'training'} {run.path}")
                events = fit(step.config, data, run=run, resume=step.action == "resume", should_stop=stop)
                last, _ = consume(events, json_lines=False, quiet=json_out)
                if isinstance(last, Stopped):
                    err.print(f"[yellow]stopped[/] z={step.config.latent} at epoch {last.epoch}, step {last.step}; "
                              "run the same command again to resume it")
                    break
            rows.append(run_summary(run, {"reuse": "reused", "resume": "resumed", "train": "trained"}[step.action]))
    if len(rows) < len(steps):  # stopped: finished runs stay reusable, the stopped one resumes
        raise typer.Exit(stop.exit_code)

    summary = write_sweep(sweep_folder(out_dir), base, rows, data, dev)
    if json_out:
        print_json(summary)
        return
    out.print(sweep_table(summary))
    for r in summary["runs"]:
        out.print(f"  z={r['latent']:<4d} {r['run_dir']}", soft_wrap=True)
    for label, path in summary["files"].items():
        out.print(f"  {label:16s} {path}", soft_wrap=True)
