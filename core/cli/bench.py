"""`aekl bench`: measured speed of the engine against a tutorial loop and the matmul floor."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from core.cli.base import app, err, out, print_json
from core.cli import options as opt
from core.config import MAX_EPOCHS, TRAIN_SIZE, AEConfig, check_range, cli_params, config_with
from core.errors import BadInput


MAX_REPEATS = 100
MAX_WARMUP = 100_000  # steps
MAX_BENCH_SAMPLES = 100 * TRAIN_SIZE  # a hundred epochs' worth of images per measurement


def _x(value: float) -> str:
    return f"{value:.2f}x"


def ratio_table(result: dict) -> Table:
    t = result["targets"]
    mach, prec = result["machine"], result["precision"]
    table = Table(title=f"aekl bench on {mach['cpu']} ({mach['device']}, {result['setup']['repeats']} repeats, "
                        f"load average {_load(mach)}); engine in {prec['used']} ({prec['why']})",
                  title_justify="left")
    for col in ("ratio", "best", "median", "target", "met"):
        table.add_column(col, justify="left" if col == "ratio" else "right")

    def row(name: str, r: dict, target: str, ok: bool | None) -> None:
        mark = "-" if ok is None else ("[green]yes[/]" if ok else "[red]no[/]")
        table.add_row(name, _x(r["from_min"]), _x(r["from_median"]), target, mark)

    batch = str(result["setup"]["batch_sizes"][0])
    row("engine / tutorial, images/s", result["ratios"]["engine_vs_tutorial"],
        f">= {t['engine_vs_tutorial_min']:g}x", t["met"]["engine_vs_tutorial"])
    used = result["precision"]["used"]
    for b, r in result["ratios"]["engine_vs_floor"].items():
        row(f"engine / {used} floor, epoch time, batch {b}", r, f"<= {t['engine_vs_floor_max']:g}x",
            t["met"]["engine_vs_floor"] if b == batch else None)
        if used != "fp32":
            row(f"engine / fp32 floor, epoch time, batch {b}", result["ratios"]["engine_vs_fp32_floor"][b], "", None)
    q = result.get("quality")
    if q:
        s = q["speedup"]
        name = f"time from process start to test MSE {q['target_test_mse']:g}, tutorial / engine"
        if not s["engine_reached"]:
            table.add_row(name, "engine did not reach it", "", f">= {t['time_to_quality_min']:g}x", "[red]no[/]")
        else:
            row(name + (" (lower bound)" if s["lower_bound"] else ""), s,
                f">= {t['time_to_quality_min']:g}x", t["met"]["time_to_quality"])
    return table


def rate_table(result: dict) -> Table:
    table = Table(title="measured (best / median of the repeats)", title_justify="left")
    for col in ("loop", "batch", "images/s", "epoch seconds"):
        table.add_column(col, justify="left" if col == "loop" else "right")

    def row(name: str, batch: str, r: dict) -> None:
        ips, ep = r["samples_per_s"], r["epoch_s"]
        table.add_row(name, batch, f"{max(ips['runs']):,.0f} / {ips['median']:,.0f}",
                      f"{ep['min']:.2f} / {ep['median']:.2f}")

    for b, r in result["engine"].items():
        row("engine (core.engine.fit.fit)", b, r)
    row("tutorial loop", str(result["setup"]["tutorial_batch_size"]), result["tutorial"])
    for p, floors in result["floors"].items():
        for b, r in floors.items():
            row(f"{p} floor (matmuls only)", b, r)
    q = result.get("quality")
    if q:
        for name in ("engine", "tutorial"):
            runs = q[name]["runs"]
            table.add_row(f"{name}: process start to MSE {q['target_test_mse']:g}", "",
                          f"{runs[0]['epochs']} epochs" + ("" if runs[0]["reached"] else " (not reached)"),
                          f"{q[name]['from_start_s']['min']:.1f} / {q[name]['from_start_s']['median']:.1f}")
    return table


def process_table(result: dict) -> Table:
    """Memory, start-up and per-epoch overhead: best / median against the issue's goals."""
    t, met, proc = result["targets"], result["targets"]["met"], result["process"]
    table = Table(title=f"process and epoch overhead (load average {_load(result['machine'])})",
                  title_justify="left")
    for col in ("measure", "best", "median", "target", "met"):
        table.add_column(col, justify="left" if col == "measure" else "right")

    def row(name: str, stats: dict | None, fmt: str, target: str, ok: bool | None) -> None:
        mark = "-" if ok is None else ("[green]yes[/]" if ok else "[red]no[/]")
        if stats is None:
            table.add_row(name, "not measured here", "", target, mark)
        else:
            table.add_row(name, fmt.format(stats["min"]), fmt.format(stats["median"]), target, mark)

    row("peak memory, default training process", proc["train_peak_mb"], "{:,.0f} MB", "", None)
    row("peak memory, bare import torch", proc["import_torch_peak_mb"], "{:,.0f} MB", "", None)
    row("aekl's addition (difference)", proc["added_mb"], "{:,.0f} MB",
        f"<= {t['added_memory_mb_max']:g} MB", met["added_memory"])
    row("command to first training step", proc["to_first_step_s"], "{:.2f} s",
        f"< {t['first_step_s_max']:g} s", met["first_step"])
    row("  of which import torch (alone)", proc["import_torch_s"], "{:.2f} s", "", None)
    row("one-epoch run, wall time", proc["one_epoch_wall_s"], "{:.2f} s", "", None)
    row("  of which training", proc["one_epoch_train_s"], "{:.2f} s", "", None)
    row("  beyond training + import torch", proc["one_epoch_fixed_s"], "{:.2f} s",
        f"<= {t['one_epoch_fixed_s_max']:g} s", met["one_epoch_fixed"])
    row("  figures, drawn after exit by a child", proc["figures_after_exit_s"], "{:.2f} s", "", None)
    over = result["epoch_overhead"]
    row("first epoch end (one-off costs too)", over.get("first_epoch_end_s"), "{:.3f} s", "", None)
    row("per-epoch overhead, later epochs", over["seconds"], "{:.3f} s", "", None)
    row("per-epoch overhead, share of the epoch", over["fraction"], "{:.1%}",
        f"<= {t['epoch_overhead_max']:.0%}", met["epoch_overhead"])
    return table


def _load(machine: dict) -> str:
    """Load average before and after, as the one-minute figures."""
    before, after = machine.get("loadavg_before"), machine.get("loadavg_after")
    return f"{before[0] if before else '?'} -> {after[0] if after else '?'}"


def gap_line(result: dict) -> str:
    gap = result["engine_vs_floor_gap"]["gap_vs_floor"]
    words = {"forward_beyond_matmuls": "forward beyond matmuls", "backward_beyond_matmuls": "backward beyond matmuls",
             "optimizer": "Adam", "batch": "batch gather + scale", "loop": "engine loop"}
    line = "engine beyond the floor, as shares of the floor's time: " + ", ".join(
        f"{words[k]} {v:+.0%}" for k, v in gap.items())
    in_step = result["engine_vs_floor_gap"].get("matmuls_in_step_vs_floor")
    if in_step is not None:
        line += (f"; in a real step the matmuls alone took {in_step:.2f}x the floor's time (the floor repeats "
                 "them on operands hot in cache)")
    return line


@app.command()
@opt.takes(cli_params(["device", "threads", "precision", "cuda_graphs"]))
def bench(
    *,
    samples: Optional[int] = typer.Option(None, help="Images per measurement (default: one pass over the training images)."),
    batch_size: Optional[int] = typer.Option(None, help="Also measure the engine and floor at this batch size."),
    repeats: int = typer.Option(3, help="Repeat every measurement; min and median are reported."),
    processes: int = typer.Option(2, help="Fresh default training processes timed and weighed (at most --repeats)."),
    warmup: int = typer.Option(20, help="Steps run before timing starts."),
    quality: bool = typer.Option(False, "--quality", help="Also time both loops to the target test MSE (minutes)."),
    target: float = typer.Option(0.150, help="Test MSE (data in [-1, 1]) that --quality times to."),
    max_epochs: int = typer.Option(30, help="--quality: epochs after which the tutorial loop gives up."),
    subset: Optional[int] = typer.Option(None, help="Use only the first N training images (tiny benchmarks)."),
    data_dir: Optional[Path] = typer.Option(None, help="MNIST root (default: bundled copy via the cache)."),
    out_dir: Path = typer.Option(Path("."), "--out", help="Folder for bench.json (default: the current folder)."),
    json_out: bool = typer.Option(False, "--json", help="Print the bench.json object on stdout instead of tables."),
    **options,
) -> None:
    """Measure the engine against the tutorial loop and the matmul floor; write bench.json.

    Engine = core.engine.fit.fit at the default config (latent 2); tutorial =
    torchvision MNIST + DataLoader(batch 128) + Adam(1e-3) + .item() per step;
    floor = just the torch.mm calls of the same forward and backward passes.
    Benchmarks want an idle machine: the load average is recorded beside the numbers.
    """
    from core.lab.bench import BenchOptions, run_bench
    from core.runfolder.runs import atomic_write_json

    _check_limits(repeats=repeats, processes=processes, warmup=warmup, max_epochs=max_epochs,
                  samples=samples, batch_size=batch_size, target=target)
    where = config_with(AEConfig(), options, here=True)  # device and threads, by the table's rules
    device, threads = where.device, where.threads
    if not out_dir.is_dir():
        raise BadInput(f"--out {out_dir} is not a folder")
    from core.runfolder.safeio import check_writable

    out_dir = out_dir.resolve()  # the user's own folder: a link to it is theirs to follow
    check_writable(out_dir, "bench.json")  # now, not after minutes of measuring
    opts = BenchOptions(samples=samples, batch_size=batch_size, repeats=repeats, processes=processes,
                        warmup=warmup, subset=subset,
                        device=device, threads=threads, precision=where.precision, cuda_graphs=where.cuda_graphs,
                        quality=quality, target=target, max_epochs=max_epochs,
                        data_dir=str(data_dir) if data_dir else None)
    result = run_bench(opts, log=lambda line: err.print(f"[dim]{line}[/]"))
    path = atomic_write_json(out_dir / "bench.json", result)
    if json_out:
        print_json(result)
        return
    _print_result(result)
    err.print(f"wrote {path}")


def _check_limits(*, target: float, **counts: int | None) -> None:
    """Bounded so that a typo is refused now rather than measured for days."""
    limits = {"repeats": (1, MAX_REPEATS), "processes": (1, MAX_REPEATS), "warmup": (0, MAX_WARMUP),
              "max_epochs": (1, MAX_EPOCHS), "samples": (1, MAX_BENCH_SAMPLES), "batch_size": (1, TRAIN_SIZE)}
    for field, value in counts.items():
        if value is not None:
            check_range(field, value, *limits[field])
    if (counts.get("processes") or 0) > (counts.get("repeats") or 0):  # one process round per repeat at most
        raise BadInput(field="processes", value=counts["processes"],
                       rule=f"must be at most --repeats ({counts['repeats']})")
    if not 0 < target < 4:  # the largest MSE possible on [-1, 1] data is 4
        raise BadInput(f"--target must be a test MSE between 0 and 4, got {target}")


def _print_result(result: dict) -> None:
    out.print(ratio_table(result))
    out.print(rate_table(result))
    out.print(process_table(result))
    out.print(gap_line(result), soft_wrap=True)
    sync = result["host_sync"]
    if sync["syncs_per_step"] is None:
        out.print(f"host syncs: {sync['note']}", soft_wrap=True)
    else:
        out.print(f"host syncs on {sync['device']}: {sync['syncs_per_step']} per step over {sync['steps']} steps"
                  + (" (the loop syncs every step)" if sync["syncs_every_step"] else " (no per-step sync)"))
    out.print(f"load average before/after: {result['machine']['loadavg_before']} / {result['machine']['loadavg_after']}")
    out.print(f"TUI overhead: {result['tui_overhead']['how']}", soft_wrap=True)
