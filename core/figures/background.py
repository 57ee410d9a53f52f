"""A finished run's figures, drawn by a child process after the trainer is gone.

Drawing the PNGs costs more than a one-epoch run's whole start-up (matplotlib's
import and five figures: about 2.5 s of CPU here) and about 130 MB of memory,
none of which the training needs. So `aekl train` writes the checkpoint,
metrics and the final status first, then hands the figures to a child:

- status.json of the finished run says `"figures": "drawing"` and lists the
  files that will appear;
- the child inherits the run's lock (the same open file, so the same flock),
  which the trainer turns into a shared lock before the final status: readers see no writer (the run is
  finished), but `--force` or a resume cannot take the folder under the
  child's feet; the kernel drops the lock when the child exits;
- so "drawing, and the lock cannot be taken" means the figures are coming,
  and a reader that needs them waits with `wait_drawn` (aekl show does). If
  the child failed, the lock is free and the files are missing: `aekl latent`
  and `aekl interpolate` redraw them. The child sets "figures" to "drawn" (or
  "failed") as it ends, for a person reading the file.

A library caller of fit() (sweep, tests) draws in its own process as before.

    python -m core.figures.background RUN_DIR '{"pair": [i, j], "data_dir": null}'
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

DRAWING = "drawing"  # status.json "figures" while the child draws
DRAWN = "drawn"  # ... once it has drawn them ("failed" if it could not)


def spawn(run_dir: str, pair: tuple[int, int], data_dir: str | None, lock_fd: int | None) -> None:
    """Start the drawer detached from our session; it outlives us, holding `lock_fd`,
    which is made shared here, before the final status says "finished"."""
    args = json.dumps({"pair": list(pair), "data_dir": data_dir})
    subprocess.Popen([sys.executable, "-m", "core.figures.background", run_dir, args],
                     pass_fds=() if lock_fd is None else (lock_fd,), stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                     cwd=os.getcwd())
    if lock_fd is not None:
        import fcntl

        fcntl.flock(lock_fd, fcntl.LOCK_SH)  # the same open file as the child's: its lock too


def figure_files(run, config) -> dict[str, str]:
    """{name: path} of what save_run_figures writes for `config`, known without drawing."""
    names = ["latents.npz", "loss.png", "latent.png", "interpolation.png", "reconstructions.png"]
    if config.latent == 2:
        names.append("manifold.png")
    if config.kind == "vae":
        names.append("samples.png")
        if config.latent > 2:
            names.append("traversals.png")
    return {name.split(".")[0]: str(run.file(name)) for name in names}


def _locked(folder: Path) -> bool:
    """True when some process holds the folder's lock, shared or exclusive."""
    import fcntl

    from core.runfolder.lock import LOCK_NAME

    try:
        fd = os.open(Path(folder) / LOCK_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops the lock, if we got it


def drawing(run) -> bool:
    """True while a child is drawing the run's figures."""
    return run.status().get("figures") == DRAWING and _locked(run.path)


def wait_drawn(run, timeout: float = 120.0) -> bool:
    """Wait until no child is drawing the run's figures; False if it still is after `timeout`."""
    deadline = time.monotonic() + timeout
    while drawing(run):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def main(argv: list[str]) -> int:
    opts = json.loads(argv[1])
    from core.data.mnist import load_mnist
    from core.figures.plots import save_run_figures
    from core.nn.models import load_trained
    from core.runfolder.runs import Run

    import torch

    torch.set_num_threads(1)  # in the background: leave the cores to whatever runs next
    run = Run(Path(argv[0]))
    outcome = "failed"
    try:
        model, config = load_trained(run, "cpu")
        data = load_mnist(opts["data_dir"], "cpu", config.subset)
        save_run_figures(run, model, data, config, tuple(opts["pair"]))
        outcome = DRAWN
    finally:
        _say(run, outcome)
    return 0


def _say(run, outcome: str) -> None:
    """status.json's "figures" from "drawing" to `outcome`, the rest as it was: the
    lock (shared with us) already tells readers we are gone, this tells a person."""
    from core.errors import AeklError
    from core.runfolder.runs import atomic_write_json

    try:
        body = run.status()
        if body.get("figures") == DRAWING:
            atomic_write_json(run.file("status.json"), {**body, "figures": outcome})
    except (AeklError, OSError):
        pass  # a folder changed under us: the lock's release still says we are done


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
