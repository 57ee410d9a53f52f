"""`aekl train`: drive core.engine.fit.fit from the command line."""

from __future__ import annotations

import signal
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from core.cli import options as opt
from core.cli.base import app, err, out, print_json_line
from core.cli.runs import print_elbo
from core.config import FOLDER, MAX_NAME, OPTIONS, RUNS_DIR, AEConfig, cli_params, config_with, flag_for, place_params
from core.errors import BadInput


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopFlag:
    """Set by SIGINT, SIGTERM or SIGHUP (a closed terminal): the engine stops
    after the step and writes its checkpoint. A second Ctrl-C aborts at once.
    A signal that was ignored when we started (nohup) stays ignored."""

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
            for sig in STOP_SIGNALS:
                if signal.getsignal(sig) is not signal.SIG_IGN:
                    self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum or signal.SIGINT)


def event_json(event) -> dict:
    """An event as a JSON-able dict: arrays become their shapes."""
    body = {"event": type(event).__name__}
    for key, value in asdict(event).items():
        body[key] = list(value.shape) if hasattr(value, "shape") else value
    return body


def consume(events, json_lines: bool, quiet: bool = False):
    """Render an event stream with a rich progress bar (or JSON lines); return the last
    event and the EpochEnd events seen."""
    from rich import progress as bars

    from core.events import EpochEnd, Progress, Started

    ends, last = [], None
    bar = bars.Progress(
        bars.TextColumn("epoch {task.fields[epoch]}"),
        bars.BarColumn(),
        bars.MofNCompleteColumn(),
        bars.TextColumn("loss {task.fields[loss]}"),
        bars.TextColumn("{task.fields[rate]} img/s"),
        bars.TimeRemainingColumn(),
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
                    err.print(f"[bold]training[/] {event.params:,} parameters on {event.device} in {event.precision} "
                              f"({event.precision_why}), {event.train_size:,} images -> {where}")
            elif isinstance(event, Progress):
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


# Flags of a new run that --resume refuses besides the config's own (a resumed run keeps its config).
NEW_RUN_ONLY = ("name", "force", "download", "config_file")


@app.command()
@opt.takes([*cli_params(), *place_params()])
def train(
    ctx: typer.Context,
    *,
    config_file: Optional[Path] = opt.option(None, "Start from this config file (a run's config.json, say); "
                                             "flags given as well override it.", FOLDER, "--config"),
    name: Optional[str] = opt.option(None, f"Run folder name (default: time-kind-zN; at most {MAX_NAME} characters).", FOLDER),
    force: bool = opt.option(False, "Replace an existing run of the same --name (only ever a run folder).", FOLDER),
    resume: Optional[str] = opt.option(None, "Continue this stopped or interrupted run with its own config; "
                                       f"only {', '.join(flag_for(n) for n in OPTIONS if OPTIONS[n].on_resume)}, "
                                       "--out, --data-dir, --dry-run and --json may be given with it.", FOLDER),
    download: bool = opt.option(False, "Let torchvision download MNIST into --data-dir.", FOLDER),
    dry_run: bool = opt.option(False, "One batch, no files written (also with --resume).", opt.OUTPUT),
    json_out: bool = opt.option(False, "JSON lines of events on stdout.", opt.OUTPUT, "--json"),
    **options,
) -> None:
    """Train an autoencoder on MNIST and save its figures under runs/."""
    from core.events import Stopped
    from core.engine.session import RunRequest, prepare

    given = opt.given(ctx, ctx.params, [*OPTIONS, *NEW_RUN_ONLY])
    out_dir, data_dir = options["runs_dir"], options["data_dir"]
    if resume:
        fixed = [n for n in given if n in NEW_RUN_ONLY or not OPTIONS[n].on_resume]
        if fixed:
            raise BadInput(f"--resume continues a run with its own config; drop {', '.join(map(flag_for, fixed))}")
        config = None
        config_with(AEConfig(), given, here=True)  # where it trains: checked by the table's rules
    else:
        base = AEConfig.from_file(config_file) if config_file else AEConfig()
        config = config_with(base, {n: v for n, v in given.items() if n in OPTIONS}, here=True)
    request = RunRequest(config, out_dir, data_dir, download, name, force, resume, dry_run,
                         given.get("device") if resume else None, given.get("threads") if resume else None)
    with StopFlag() as stop, prepare(request) as ready:
        # Figures of a finished run are drawn by a child after we exit (core/figures/background.py).
        figures = None if dry_run else {"data_dir": str(data_dir) if data_dir else None}
        last, ends = consume(ready.fit(should_stop=stop, background=figures), json_out)
    report(last, ends, json_out, dry_run, out_dir)
    if isinstance(last, Stopped):
        raise typer.Exit(stop.exit_code)


def report(last, ends, json_out: bool, dry_run: bool, out_dir: Path) -> None:
    from core.events import Finished, Stopped

    if not json_out:  # stdout belongs to the JSON lines; stderr keeps the chatter
        if ends:
            out.print(summary_table(ends))
            print_elbo([e.metrics_row() for e in ends])  # VAE only
        if dry_run:
            err.print("[green]dry run ok[/]: one batch trained and evaluated, nothing written")
        for label, path in getattr(last, "files", {}).items():
            out.print(f"  {label:16s} {path}")
    if isinstance(last, Stopped) and last.run_dir:
        again = f"aekl train --resume {Path(last.run_dir).name}" + (f" --out {out_dir}" if Path(out_dir) != RUNS_DIR else "")
        err.print(f"[yellow]stopped[/] after epoch {last.epoch}, step {last.step}; checkpoint, metrics "
                  f"and figures saved in {last.run_dir}. Continue with: {again}")
    elif isinstance(last, Finished) and not json_out:
        err.print(f"[green]finished[/] in {last.seconds:.1f}s, test MSE {last.test_mse:.4f}, "
                  f"matmuls in {last.precision}")
