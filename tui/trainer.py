"""The body of the training worker, kept free of widgets so it reads (and
tests) like the CLI's `aekl train`: resolve the device, load MNIST, create or
reopen the run folder, then forward every engine event.

It runs in a thread; `post` is the only way out (a widget's post_message,
which is thread-safe). Errors are posted too, never raised, so the app keeps
running whatever goes wrong.
"""

from __future__ import annotations

import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from core.config import AEConfig
from core.errors import AeklError

from tui.messages import TrainEvent, TrainFailed, TrainPhase


@dataclass(frozen=True)
class TrainRequest:
    config: AEConfig
    runs_dir: Path
    data_dir: Path | None = None
    resume: str | None = None  # id of a stopped run to continue (its own config is used)


def run_training(request: TrainRequest, post: Callable[[object], object], stop: threading.Event) -> None:
    """Train as `aekl train` does and post a message for every step of the way."""
    try:
        _train(request, post, stop)
    except AeklError as exc:
        post(TrainFailed(exc.message, user=True))
    except Exception as exc:  # a bug: keep the app alive and show what happened
        last = traceback.extract_tb(exc.__traceback__)[-1:]
        where = f" ({Path(last[0].filename).name}:{last[0].lineno})" if last else ""
        post(TrainFailed(f"{type(exc).__name__}: {exc}{where}", user=False))


def _train(request: TrainRequest, post: Callable[[object], object], stop: threading.Event) -> None:
    # Heavy imports here, not at module level: the app's first frame should not
    # wait for torch.
    from core.data import load_mnist
    from core.models import pick_device
    from core.runs import new_run, open_run
    from core.train import fit, preflight

    if request.resume:
        run = open_run(request.resume, request.runs_dir)
        config = run.config()
    else:
        run, config = None, request.config.validate()
    device = pick_device(config.device)
    post(TrainPhase(f"loading MNIST onto {device}"))
    data = load_mnist(request.data_dir, device, config.subset)
    preflight(config, data)  # fail before a run folder exists, as the CLI does
    if stop.is_set():
        return  # stopped while loading: nothing was written, nothing to resume
    if run is None:
        run = new_run(config, request.runs_dir)
    for event in fit(config, data, run=run, resume=bool(request.resume), should_stop=stop.is_set):
        post(TrainEvent(event))
