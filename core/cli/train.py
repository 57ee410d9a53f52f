"""`aekl train`: drive core.train.fit from the command line."""

from __future__ import annotations

import signal
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from core.cli.base import app, err, out, print_json_line
from core.cli.runs import print_elbo
from core.config import AEConfig
from core.errors import BadInput, ExitCode

D = AEConfig  # defaults live on the dataclass only


class StopFlag:
    """Set by SIGINT/SIGTERM; a second Ctrl-C aborts at once."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None
        self._old: dict[int, object] = {}

    def __call__(self) -> bool:
        return self.event.is_set()

    def _handle(self, signum, frame) -> None:
        if self.event.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum
        self.event.set()

    def __enter__(self) -> "StopFlag":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    @property
    def exit_code(self) -> int:
        return int(ExitCode.TERMINATED if self.signum == signal.SIGTERM else ExitCode.INTERRUPTED)


def parse_ints(text: str, name: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise BadInput(f"{name} must be comma-separated integers, got {text!r}") from None
    if not values:
        raise BadInput(f"{name} is empty")
    return values


def event_json(event) -> dict:
    """An event as a JSON-able dict: arrays become their shapes."""
    body = {"event": type(event).__name__}
    for key, value in asdict(event).items():
        body[key] = list(value.shape) if hasattr(value, "shape") else value
    return body


def consume(events, json_lines: bool, quiet: bool = False):
    """Render an event stream with a rich progress bar (or JSON lines); return the last
    event and the EpochEnd events seen."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from core.train import EpochEnd, Progress as Step, Started

    ends, last = [], None
    bar = Progress(
        TextColumn("epoch {task.fields[epoch]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("{task.fields[rate]} img/s"),
        TimeRemainingColumn(),
        console=err,
        disable=json_lines or quiet,
        transient=False,
    )
    task = None
    with bar:
        for event in events:
            last = event
            if json_lines:
                print_json_line(event_json(event))
            if isinstance(event, Started):
                if not json_lines and not quiet:
                    where = event.run_dir or "(no run folder)"
                    err.print(f"[bold]training[/] {event.params:,} parameters on {event.device}, {event.train_size:,} images -> {where}")
            elif isinstance(event, Step):
                if task is None or bar.tasks[task].fields["epoch"] != event.epoch:
                    task = bar.add_task("", total=event.steps, epoch=event.epoch, loss="-", rate="-")
                bar.update(task, completed=event.step, loss=f"{event.loss:.4f}", rate=f"{event.samples_per_s:,.0f}")
            elif isinstance(event, EpochEnd):
                ends.append(event)
                if task is not None:
                    bar.update(task, loss=f"{event.train_loss:.4f} test {event.test_mse:.4f}")
    return last, ends


def summary_table(ends) -> Table:
    table = Table(title="training summary", title_justify="left")
    for col in ("epoch", "train MSE", "test MSE", "test KL", "seconds", "img/s"):
        table.add_column(col, justify="right")
    for e in ends:
        kl = "-" if e.test_kl is None else f"{e.test_kl:.3f}"
        table.add_row(str(e.epoch), f"{e.train_mse:.4f}", f"{e.test_mse:.4f}", kl, f"{e.seconds:.2f}", f"{e.samples_per_s:,.0f}")
    return table


@app.command()
def train(
    latent: int = typer.Option(D.latent, "--latent", "-z", help="Latent (code) size.", rich_help_panel="Model"),
    kind: str = typer.Option(D.kind, help="Model kind: ae or vae.", rich_help_panel="Model"),
    epochs: int = typer.Option(D.epochs, help="Passes over the training set.", rich_help_panel="Training"),
    batch_size: int = typer.Option(D.batch_size, help="Images per step.", rich_help_panel="Training"),
    lr: float = typer.Option(D.lr, help="Peak learning rate (warm-up, then cosine decay).", rich_help_panel="Training"),
    beta: float = typer.Option(D.beta, help="VAE: weight of the KL term.", rich_help_panel="Model"),
    kl_schedule: str = typer.Option(D.kl_schedule, help="VAE: monotonic or cyclical β (Fu et al. 2019).", rich_help_panel="Model"),
    kl_warmup: float = typer.Option(D.kl_warmup, help="VAE: epochs over which β rises from 0 (monotonic).", rich_help_panel="Model"),
    kl_cycles: int = typer.Option(D.kl_cycles, help="VAE: cycles of the cyclical schedule.", rich_help_panel="Model"),
    free_bits: float = typer.Option(D.free_bits, help="VAE: nats per latent dimension not charged for.", rich_help_panel="Model"),
    hidden: str = typer.Option(",".join(map(str, D.hidden)), help="Encoder hidden widths, e.g. 512,256.", rich_help_panel="Model"),
    activation: str = typer.Option(D.activation, help="relu, gelu, tanh or silu.", rich_help_panel="Model"),
    seed: int = typer.Option(D.seed, help="Seed for init, batch order and noise.", rich_help_panel="Training"),
    device: str = typer.Option(D.device, help="auto, cpu, cuda or mps.", rich_help_panel="Training"),
    threads: int = typer.Option(D.threads, help="CPU threads for torch (0 = torch default).", rich_help_panel="Training"),
    subset: Optional[int] = typer.Option(None, help="Train on the first N training images only.", rich_help_panel="Training"),
    from_index: Optional[int] = typer.Option(None, help="Test image where the interpolation starts.", rich_help_panel="Interpolation"),
    to_index: Optional[int] = typer.Option(None, help="Test image where the interpolation ends.", rich_help_panel="Interpolation"),
    steps: int = typer.Option(D.interp_steps, help="Intermediate interpolation frames (>= 5).", rich_help_panel="Interpolation"),
    out_dir: Path = typer.Option(Path("runs"), "--out", help="Folder that holds run folders.", rich_help_panel="Run folder and data"),
    name: Optional[str] = typer.Option(None, help="Run folder name (default: time-kind-zN).", rich_help_panel="Run folder and data"),
    force: bool = typer.Option(False, help="Replace an existing run of the same --name.", rich_help_panel="Run folder and data"),
    resume: Optional[str] = typer.Option(None, help="Continue this stopped run (its own config is used).", rich_help_panel="Run folder and data"),
    data_dir: Optional[Path] = typer.Option(None, help="MNIST root (default: bundled copy via the cache).", rich_help_panel="Run folder and data"),
    download: bool = typer.Option(False, help="Let torchvision download MNIST into --data-dir.", rich_help_panel="Run folder and data"),
    dry_run: bool = typer.Option(False, help="One batch, no files: check that everything is wired.", rich_help_panel="Output"),
    json_out: bool = typer.Option(False, "--json", help="JSON lines of events on stdout.", rich_help_panel="Output"),
) -> None:
    """Train an autoencoder on MNIST and save its figures under runs/."""
    from core.data import load_mnist
    from core.models import pick_device
    from core.runs import new_run, open_run
    from core.train import Finished, Stopped, fit, preflight

    if resume:
        run = open_run(resume, out_dir)
        config = run.config()
    else:
        config = AEConfig(
            latent=latent, hidden=parse_ints(hidden, "--hidden"), activation=activation, kind=kind,
            beta=beta, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device,
            threads=threads, subset=subset, interp_from=from_index, interp_to=to_index, interp_steps=steps,
            kl_schedule=kl_schedule, kl_warmup=kl_warmup, kl_cycles=kl_cycles, free_bits=free_bits,
        ).validate()
        run = None
    dev = pick_device(config.device)
    data = load_mnist(data_dir, dev, config.subset, download)
    preflight(config, data)  # fail before a run folder exists, not after
    if not resume and not dry_run:
        run = new_run(config, out_dir, name=name, force=force)

    with StopFlag() as stop:
        events = fit(config, data, run=run, resume=bool(resume), should_stop=stop, max_steps=1 if dry_run else None)
        last, ends = consume(events, json_out)

    if not json_out:
        if ends:
            out.print(summary_table(ends))
            print_elbo([e.metrics_row() for e in ends])  # VAE only
        if dry_run:
            err.print("[green]dry run ok[/]: one batch trained and evaluated, nothing written")
        for label, path in getattr(last, "files", {}).items():
            out.print(f"  {label:16s} {path}")
    if isinstance(last, Stopped):
        err.print(f"[yellow]stopped[/] after epoch {last.epoch}, step {last.step}; checkpoint, metrics "
                  f"and figures saved in {last.run_dir}. "
                  + (f"Continue with: aekl train --resume {Path(last.run_dir).name}"
                     + (f" --out {out_dir}" if str(out_dir) != "runs" else "") if last.run_dir else ""))
        raise typer.Exit(stop.exit_code)
    if isinstance(last, Finished) and not json_out:
        err.print(f"[green]finished[/] in {last.seconds:.1f}s, test MSE {last.test_mse:.4f}")
