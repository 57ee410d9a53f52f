"""What a training process costs before and around its steps, measured from outside.

Each figure comes from a fresh child process, so nothing the measuring
process has imported or allocated leaks into it:

- peak resident memory: the child's ru_maxrss (Linux: KiB) as a launcher
  that started only it reads it (RUSAGE_CHILDREN), for a default
  `aekl train` process and for a bare `python -c "import torch"`, read the
  same way; the difference is what aekl adds on top of torch;
- time to the first step: from just before the child is started to the
  moment its first training step began. The child prints its events as
  JSON lines; the first Progress line says how many steps its window held
  and at what rate, so the window's start (the first step) is its arrival
  time less steps * batch / rate. The launcher's own start (a bare
  interpreter, some tens of ms) is counted in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from core.config import AEConfig

KIB = 1024  # ru_maxrss is in KiB on Linux (bytes on macOS, where this is not measured)

# A child forked from this (large) process would inherit its high-water mark
# through fork and exec. So each measured command is started by a small
# launcher, itself a fresh interpreter with nothing imported: the launcher's
# RUSAGE_CHILDREN then holds only the measured command's own peak, which it
# writes to the file named by its first argument.
LAUNCHER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "with open(sys.argv[1], 'w') as f:\n"
    "    f.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(code)\n"
)


def _launch(command: list[str], report: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", LAUNCHER, report, *command], **popen)


def _peak_mb(report: str) -> float | None:
    """The peak the launcher wrote, in MB; None off Linux (other units) or when missing."""
    if sys.platform != "linux":
        return None
    try:
        with open(report) as f:
            return int(f.read()) * KIB / 2**20
    except (OSError, ValueError):
        return None


def import_torch() -> dict:
    """Peak MB and seconds of a child that only imports torch."""
    with tempfile.TemporaryDirectory(prefix="aekl-bench-") as tmp:
        report = os.path.join(tmp, "peak")
        start = time.perf_counter()
        code = _launch([sys.executable, "-c", "import torch"], report).wait()
        seconds = time.perf_counter() - start
        rss = _peak_mb(report)
    if code:
        raise RuntimeError(f"`import torch` in a child process exited {code}")
    return {"peak_mb": rss, "seconds": seconds}


def train_process(config: AEConfig, data_dir: str | None = None) -> dict:
    """Run `aekl train --json --config FILE` for `config` in a child; its peak MB and start-up times."""
    with tempfile.TemporaryDirectory(prefix="aekl-bench-") as out:
        report, config_file = os.path.join(out, "peak"), os.path.join(out, "config.json")
        with open(config_file, "w") as f:
            json.dump(config.to_dict(), f)
        args = ["--config", config_file, *(["--data-dir", data_dir] if data_dir else [])]
        start = time.perf_counter()
        proc = _launch([sys.executable, "-m", "core.cli", "train", "--json", "--out", out, *args], report,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started = first_step = run_dir = None
        batch, train_s = None, 0.0
        for line in proc.stdout:  # one event per line, as it happens
            arrived = time.perf_counter() - start
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "Started":
                started, batch, run_dir = arrived, event["config"]["batch_size"], event["run_dir"]
            elif event.get("event") == "EpochEnd":
                train_s += event["seconds"]
            elif event.get("event") == "Progress" and first_step is None:
                window = event["step"] * batch / max(event["samples_per_s"], 1e-9)
                first_step = max(started or 0.0, arrived - window)
        err = proc.stderr.read()
        code = proc.wait()
        total = time.perf_counter() - start
        rss = _peak_mb(report)
        figures_s = _wait_figures(run_dir)  # before the folder goes, and before the next measurement
    if code or first_step is None:
        last = err.strip().splitlines()[-1] if err.strip() else f"exit {code}"
        raise RuntimeError(f"the measured `aekl train` process failed: {last[:200]}")
    return {"peak_mb": rss, "to_started_s": started, "to_first_step_s": first_step, "total_s": total,
            "train_s": train_s, "figures_s": figures_s}


def _wait_figures(run_dir: str | None) -> float:
    """Seconds until the detached child has drawn the run's figures (0 if none was drawing)."""
    from pathlib import Path

    from core.figures.background import wait_drawn
    from core.runfolder.runs import Run

    start = time.perf_counter()
    if run_dir:
        wait_drawn(Run(Path(run_dir)))
    return time.perf_counter() - start


# The tutorial's start-up, as its script would run it: the imports, the
# dataset, the loader, the model and its optimizer, until the first batch.
TUTORIAL_START = (
    "import sys\n"
    "import torch\n"
    "from torch.utils.data import DataLoader\n"
    "from torchvision import datasets, transforms\n"
    "tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])\n"
    "ds = datasets.MNIST(sys.argv[1], train=True, download=False, transform=tf)\n"
    "loader = DataLoader(ds, batch_size=int(sys.argv[2]), shuffle=True)\n"
    "model = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 784))\n"
    "opt = torch.optim.Adam(model.parameters(), lr=1e-3)\n"
    "x, _ = next(iter(loader))\n"
    "loss = torch.nn.functional.mse_loss(model(x.view(len(x), -1)), x.view(len(x), -1))\n"
    "loss.backward()\n"
    "opt.step()\n"
)


def tutorial_start(root: str, batch: int) -> dict:
    """Seconds from starting a fresh interpreter to the end of the tutorial's first step."""
    start = time.perf_counter()
    code = subprocess.call([sys.executable, "-c", TUTORIAL_START, root, str(batch)])
    if code:
        raise RuntimeError(f"the tutorial's start-up in a child process exited {code}")
    return {"seconds": time.perf_counter() - start}
