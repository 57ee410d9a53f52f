"""Does watching slow training down? `aekl train` alone against `aekl train`
with an `aekl-tui --attach` app following it.

    python -m tui.throughput --subset 20000 --epochs 2 --repeat 3

Training always runs in its own process; the viewer is a second process that
follows the run folder, as over SSH. Each measurement is fresh processes with
the same config, alternating (alone, watched, alone, watched ...) so a machine
that speeds up or slows down biases neither side. The figure compared is the
trainer's samples/s per epoch (training steps only). The app runs headless at
80x24: its watcher thread, message handlers and redraws are all real.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRAIN = [sys.executable, "-m", "core.cli", "train", "--json"]


def rates(run_dir: Path) -> list[float]:
    from core.runfolder.runs import Run

    return [r.samples_per_s for r in Run(run_dir).metric_rows()]


def watch_here(runs_dir: str, run_id: str) -> int:
    """Attach a headless app to the run until it ends; return the epochs it drew."""
    from tui.app import make_app
    from tui.messages import RunEnded, RunEpoch

    seen: list = []
    app = make_app(runs_dir=runs_dir, attach=run_id)

    async def drive() -> None:
        async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
            while not any(isinstance(m, RunEnded) for m in seen):
                await asyncio.sleep(0.2)
            await pilot.pause(0.1)

    asyncio.run(drive())
    return len({id(m) for m in seen if isinstance(m, RunEpoch)})


def measure(options: list[str], out: str, name: str, watched: bool) -> float:
    trainer = subprocess.Popen([*TRAIN, *options, "--out", out, "--name", name], stdout=subprocess.DEVNULL)
    viewer = None
    if watched:
        while not (Path(out) / name / "config.json").is_file():
            time.sleep(0.05)
        code = f"from tui.throughput import watch_here; print(watch_here({out!r}, {name!r}))"
        viewer = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    if trainer.wait() != 0:
        raise SystemExit(f"training failed ({name})")
    if viewer is not None:
        drawn = int(viewer.communicate()[0].strip().splitlines()[-1])
        if drawn != len(rates(Path(out) / name)):
            raise SystemExit(f"the viewer drew {drawn} epochs")
    return statistics.mean(rates(Path(out) / name))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m tui.throughput", description=__doc__.splitlines()[0])
    p.add_argument("--subset", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    options = ["--subset", str(args.subset), "--epochs", str(args.epochs)]
    alone, watched = [], []
    with tempfile.TemporaryDirectory(prefix="aekl-throughput-") as out:
        for i in range(args.repeat):
            alone.append(measure(options, out, f"alone-{i}", False))
            watched.append(measure(options, out, f"watched-{i}", True))
            print(f"round {i + 1}: alone {alone[-1]:,.0f} img/s, watched {watched[-1]:,.0f} img/s", flush=True)
    ratio = statistics.mean(watched) / statistics.mean(alone)
    print(f"mean: alone {statistics.mean(alone):,.0f} img/s, watched {statistics.mean(watched):,.0f} img/s, "
          f"ratio {ratio:.3f} (rounds {', '.join(f'{w / a:.2f}' for a, w in zip(alone, watched))})")


if __name__ == "__main__":
    main()
