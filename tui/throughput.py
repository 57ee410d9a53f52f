"""Does watching slow training down? Headless `aekl train` against the TUI.

    python -m tui.throughput --subset 20000 --epochs 2 --repeat 2

Each measurement is a fresh process with the same config; the runs alternate
(CLI, TUI, CLI, TUI ...) so a machine that speeds up or slows down over time
biases neither side. The figure compared is samples/s from EpochEnd, which
times only the training steps (evaluation and file writing excluded). The TUI
runs headless at 80x24: the app, its worker, message handlers and redraws are
all real; only the bytes to a terminal are not written.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile


def cli_rates(options: list[str], out: str) -> list[float]:
    cmd = [sys.executable, "-c", "from core.cli import app; app()", "train", *options, "--out", out, "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    events = [json.loads(line) for line in done.stdout.splitlines()]
    return [e["samples_per_s"] for e in events if e["event"] == "EpochEnd"]


def tui_rates_here(subset: int, epochs: int, out: str) -> list[float]:
    """Run the app headless in this process until training ends; EpochEnd rates."""
    from tui.app import make_app

    app = make_app(runs_dir=out, subset=subset, epochs=epochs, start=True)

    async def drive() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.train_screen
            while not screen.milestones or screen.training:
                await asyncio.sleep(0.2)
            await pilot.pause(0.1)

    asyncio.run(drive())
    return app.train_screen.epoch_rates


def tui_rates(subset: int, epochs: int, out: str) -> list[float]:
    code = ("import json; from tui.throughput import tui_rates_here; "
            f"print(json.dumps(tui_rates_here({subset}, {epochs}, {out!r})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m tui.throughput", description=__doc__.splitlines()[0])
    p.add_argument("--subset", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args(argv)
    options = ["--subset", str(args.subset), "--epochs", str(args.epochs)]
    cli, tui = [], []
    with tempfile.TemporaryDirectory(prefix="aekl-throughput-") as out:
        for i in range(args.repeat):
            cli.append(statistics.mean(cli_rates(options, out)))
            tui.append(statistics.mean(tui_rates(args.subset, args.epochs, out)))
            print(f"round {i + 1}: headless {cli[-1]:,.0f} img/s, TUI {tui[-1]:,.0f} img/s", flush=True)
    ratio = statistics.mean(tui) / statistics.mean(cli)
    print(f"mean: headless {statistics.mean(cli):,.0f} img/s, TUI {statistics.mean(tui):,.0f} img/s, "
          f"ratio {ratio:.3f}")


if __name__ == "__main__":
    main()
