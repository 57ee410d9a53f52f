"""`aekl sweep`: a grid of ordinary runs (latent size x kind x β x seed), in this
process or on Ray, then a comparison with mean ± std over seeds."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from core.cli import options as opt
from core.cli.base import app, cli_message, err, error_line, out, print_json
from core.cli.train import StopFlag
from core.options import completer
from core.config import FOLDER, OPTIONS, AEConfig, cli_params, config_with, place_params
from core.errors import BadInput, TrainingFailed


EXECUTORS = ("local", "ray")


def style(state) -> str:
    from core.lab.sweep import Point

    return {Point.QUEUED: "dim", Point.REUSED: "cyan", Point.TRAINING: "bold", Point.FINISHED: "green",
            Point.STOPPED: "yellow", Point.FAILED: "red", Point.CANCELLED: "dim"}[state]


class RunLines:
    """One line per run: queued, training (epoch and a bar), finished, failed...

    On a terminal the lines are live rich progress rows; elsewhere (a log, a
    pipe) each change of state or epoch is printed once, as a plain line.
    """

    def __init__(self, labels: list[str], console: Console) -> None:
        self.labels, self.console = labels, console
        self.live = console.is_terminal
        self.seen: dict[int, tuple] = {}
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(bar_width=24),
                            TextColumn("{task.fields[state]}"), console=console, disable=not self.live)
        width = max(map(len, labels), default=0)
        self.tasks = [self.bar.add_task(label.ljust(width), total=1, state="[dim]waiting[/]") for label in labels]

    def __enter__(self) -> "RunLines":
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)

    def __call__(self, i: int, state, epoch: int | None = None, epochs: int | None = None,
                  step: int = 0, steps: int | None = None, detail: str = "") -> None:
        from core.lab.sweep import Point

        state = Point(state)
        text = str(state)
        if state is Point.TRAINING and epoch is not None:
            text = f"training epoch {epoch}/{epochs}"
        if detail:
            text += f": {detail}"
        if self.live:
            fields = {"state": f"[{style(state)}]{text}[/]"}
            if state is Point.TRAINING and steps:
                fields.update(total=epochs * steps, completed=(epoch - 1) * steps + step)
            elif state.done:
                fields.update(total=1, completed=1)
            self.bar.update(self.tasks[i], **fields)
        elif self.seen.get(i) != (state, epoch):  # a plain line per change, not per step
            self.seen[i] = (state, epoch)
            if state is not Point.QUEUED:
                self.console.print(f"{self.labels[i]}: {text}", markup=False, highlight=False, soft_wrap=True)


def sweep_table(summary: dict) -> Table:
    n_seeds = len(summary["seeds"])
    spread = f", mean ± std over {n_seeds} seeds" if n_seeds > 1 else ""
    table = Table(title=f"sweep {summary['sweep']}{spread}", title_justify="left")
    # Narrow enough for 80 columns: the spread is shown for the test MSE, the
    # number a sweep compares; epochs, parameters and train spread are in the JSON.
    for col in ("kind", "β", "z", "test MSE", "train MSE", "s/run", "runs"):
        table.add_column(col, justify="left" if col in ("kind", "runs") else "right", no_wrap=True)

    for c in summary["configs"]:
        test = f"{c['test_mse_mean']:.4f}" + ("" if c["test_mse_std"] is None else f" ± {c['test_mse_std']:.4f}")
        actions = c["actions"]
        runs = ", ".join(f"{actions.count(a)} {a}" if len(actions) > 1 else a for a in dict.fromkeys(actions))
        table.add_row(c["kind"], "-" if c["beta"] is None else f"{c['beta']:g}", str(c["latent"]), test,
                      f"{c['train_mse_mean']:.4f}", f"{c['seconds_mean']:.1f}", runs)
    return table


GRID = ("latent", "kind", "beta", "seed")  # the grid's own comma-separated lists replace these options


@app.command()
@opt.takes([*cli_params(skip=GRID), *place_params("Folder for the run folders and the sweep folder.")])
def sweep(
    ctx: typer.Context,
    *,
    latent: str = typer.Option("2,4,8,16,32", "--latent", "-z", help="Comma-separated latent sizes.", rich_help_panel="Grid"),
    kind: str = typer.Option(AEConfig.kind, help="Comma-separated model kinds: ae, vae or ae,vae.", rich_help_panel="Grid"),
    beta: Optional[str] = typer.Option(None, help="Comma-separated VAE β values (AEs have no KL term and ignore it).", rich_help_panel="Grid"),
    seeds: str = typer.Option(str(AEConfig.seed), "--seeds", "--seed", help="Comma-separated seeds; each configuration runs once per seed.", rich_help_panel="Grid"),
    executor: str = typer.Option("local", help="local: one run after another in this process; ray: one Ray task per run.",
                                 rich_help_panel="Executor", metavar="[local|ray]",
                                 autocompletion=completer(EXECUTORS)),
    ray_address: Optional[str] = typer.Option(None, help="Ray cluster to join: auto or host:port (default: start a local Ray). Gives up after 30 s; a cluster with token authentication needs RAY_AUTH_MODE=token set here.", rich_help_panel="Executor"),
    gpus_per_run: Optional[float] = typer.Option(None, help="GPUs per Ray task, e.g. 0.25 packs four runs on a GPU (default 0).", rich_help_panel="Executor"),
    cpus_per_run: Optional[float] = typer.Option(None, help="CPUs per Ray task (default 1).", rich_help_panel="Executor"),
    force: bool = opt.option(False, "Train new runs even where a finished run with the same config exists.", FOLDER),
    json_out: bool = opt.option(False, "Print only the summary object (JSON) on stdout.", opt.OUTPUT, "--json"),
    **options,
) -> None:
    """Train one run per point of a grid (reusing finished ones) and compare them.

    Writes <out>/sweep-<time>/ with sweep.json (every run, and mean ± std over
    seeds per configuration), sweep.png and reconstructions.png. Ctrl-C stops
    the runs in progress at a saved checkpoint and cancels the rest; the same
    command again resumes them.
    """
    from core.lab.sweep import parse_grid, plan
    from core.runfolder.runs import check_destination

    if executor not in EXECUTORS:
        raise BadInput(field="executor", value=executor, rule="must be local or ray")
    if executor == "local":
        for field, value in (("ray_address", ray_address), ("gpus_per_run", gpus_per_run),
                             ("cpus_per_run", cpus_per_run)):
            if value is not None:
                raise BadInput(field=field, value=value, rule="applies only to the ray executor")
    grid, notes = parse_grid(latent, kind, beta, seeds)
    out_dir, data_dir = options["runs_dir"], options["data_dir"]
    # Every run trains here with the local executor; on Ray, each on its own machine.
    base = config_with(AEConfig(), opt.given(ctx, ctx.params, [n for n in OPTIONS if n not in GRID]),
                       here=executor == "local")
    check_destination(out_dir)  # before any training: a file there would fail every run
    jobs = plan(grid.configs(base), out_dir, force)
    for note in notes:
        err.print(f"[yellow]note[/]: {note}", soft_wrap=True)

    if executor == "ray":
        summary, stopped = _execute_on_ray(jobs, grid, base, out_dir, data_dir, json_out, ray_address,
                                           cpus_per_run, gpus_per_run)
    else:
        summary, stopped = _execute(jobs, grid, base, out_dir, data_dir, json_out, "local", None)
    if stopped:
        raise typer.Exit(stopped)
    if json_out:
        print_json(summary)
    else:
        _print_summary(summary)


def _print_summary(summary: dict) -> None:
    out.print(sweep_table(summary))
    for r in summary["runs"]:
        beta = f" β={r['beta']:g}" if r["kind"] == "vae" else ""
        out.print(f"  {r['kind'] + beta + ' z=' + str(r['latent']) + ' seed ' + str(r['seed']):24s} {r['run_dir']}",
                  soft_wrap=True)
    for label, path in summary["files"].items():
        out.print(f"  {label:16s} {path}", soft_wrap=True)


def _execute_on_ray(jobs, grid, base, out_dir, data_dir, json_out, address, cpus_per_run, gpus_per_run):
    """Connect to (or start) Ray only when some run needs training, and let go of a Ray we started."""
    from core.lab import sweep_ray
    from core.lab.sweep import Action

    cpus, gpus = cpus_per_run if cpus_per_run is not None else 1.0, gpus_per_run or 0.0
    sweep_ray.check_task_size(cpus, gpus)
    sweep_ray.check_address(address)
    sweep_ray.import_ray()  # a missing Ray is one line, before any work
    needs_ray = any(j.action is not Action.REUSE for j in jobs)
    try:
        owned = sweep_ray.connect(address) if needs_ray else False
    except sweep_ray.RayNoAnswer as exc:
        # ray.init is still stuck in its thread; Ray's exit hook would wait for
        # it, so leave now (nothing of the sweep exists yet).
        error_line(cli_message(exc))
        sys.stdout.flush()
        os._exit(int(exc.exit_code))
    try:
        if needs_ray:
            sweep_ray.check_cluster(cpus, gpus)
        remote = lambda stop, lines: sweep_ray.run_ray(  # noqa: E731
            jobs, out_dir, str(data_dir) if data_dir else None, cpus, gpus, stop, lines)
        return _execute(jobs, grid, base, out_dir, data_dir, json_out, "ray", remote)
    finally:
        if owned:
            import ray

            ray.shutdown()


def _execute(jobs, grid, base, out_dir, data_dir, json_out, executor, remote):
    """Run the jobs (locally, or through `remote`), then summarise. Returns
    (summary, 0) or (None, exit code) when stopped."""
    from core.data.mnist import load_mnist
    from core.nn.models import pick_device
    from core.lab.sweep import Point, run_local, run_summary, sweep_folder, write_sweep
    from core.engine.fit import preflight

    # The driver's data: the test set for the reconstructions (and, locally, training).
    dev = pick_device(base.device if executor == "local" else "cpu")
    data = load_mnist(data_dir, dev, base.subset)
    preflight(base, data)  # e.g. a batch larger than the subset: fail before any folder exists

    with StopFlag() as stop, RunLines([j.label for j in jobs], err) as lines:
        if remote is None:
            for i in range(len(jobs)):
                lines(i, Point.QUEUED)
            outcomes = run_local(jobs, out_dir, data_dir, data, stop, lines)
        else:
            outcomes = remote(stop, lines)

    failed = [(j, o) for j, o in zip(jobs, outcomes) if o.state is Point.FAILED]
    if failed:
        job, first = failed[0]
        raise TrainingFailed(f"{len(failed)} of {len(jobs)} runs failed ({job.label}: {first.detail}); "
                             "finished runs are reused when the sweep runs again")
    if not all(o.state.done for o in outcomes):
        left = sum(o.state is Point.STOPPED for o in outcomes)
        err.print(f"[yellow]stopped[/]: {left} run(s) saved mid-training, the rest not started; "
                  "run the same command again to resume", soft_wrap=True)
        return None, stop.exit_code or 130

    rows = [run_summary(o.run, j.action.done) for j, o in zip(jobs, outcomes)]
    summary = write_sweep(sweep_folder(out_dir), base, grid, rows, data, dev, executor)
    return summary, 0
