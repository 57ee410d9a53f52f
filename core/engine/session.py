"""From a request (config, runs folder, data folder, resume id) to a run ready to train.

The one way to start a run, shared by `aekl train`, `aekl sweep` and, through
`aekl train` in its own process, the TUI:

    with prepare(RunRequest(config, runs_dir)) as ready:
        for event in ready.fit(should_stop=flag):
            ...

Every check that can fail on the user's input runs before a folder is made
or touched, and the run's lock is held from the moment its folder is made
(or reopened) until training ends, so nobody else can write it in between.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

from core.config import AEConfig
from core.errors import RunError
from core.runfolder.journal import DryJournal, Journal, NullJournal
from core.runfolder.lock import acquire, holder as lock_holder, release
from core.runfolder.runs import Run, Status, check_destination, new_run, open_run


@dataclass(frozen=True)
class RunRequest:
    config: AEConfig | None  # None when resuming: the run's own config is used
    runs_dir: Path
    data_dir: Path | None = None
    download: bool = False  # let torchvision fill data_dir when online
    name: str | None = None  # run folder name; None: time-kind-zN
    force: bool = False  # replace a run of the same name (only ever a run folder)
    resume: str | None = None  # id of a stopped or interrupted run to continue
    dry_run: bool = False  # one batch, nothing written
    device: str | None = None  # resume only: train on this device instead of the recorded one
    threads: int | None = None  # resume only: torch CPU threads instead of the recorded number
    data: object | None = None  # MNIST already on the config's device and subset (a sweep loads it once)


@dataclass
class Ready:
    config: AEConfig
    data: object  # core.data.mnist.MNIST
    journal: NullJournal
    resume: bool
    max_steps: int | None
    precision_why: str | None = None  # why config.precision, when prepare() resolved "auto"

    def fit(self, should_stop: Callable[[], bool] = lambda: False, **kw):
        from core.engine.fit import fit

        return fit(self.config, self.data, run=self.journal, resume=self.resume, should_stop=should_stop,
                   max_steps=self.max_steps, precision_why=self.precision_why, **kw)


def resumable(run: Run) -> AEConfig:
    """The config of a run that may be continued; RunError saying why not otherwise."""
    snap = run.snapshot()
    if snap.status.damaged:
        raise RunError(f"run {run.id} is damaged: {snap.reason}", field="force",
                       hint="start it again under the same name with {name}")
    state = snap.status
    if state is Status.RUNNING and (lock_holder(run.path) or {}).get("pid") == os.getpid():
        state = Status.INTERRUPTED  # we hold its lock now, so its old writer is gone
    if state is Status.FINISHED:
        raise RunError(f"run {run.id} already finished its epochs")
    if state is Status.RUNNING:
        raise RunError(f"run {run.id} is still training")
    if not state.resumable:
        raise RunError(f"run {run.id} cannot be resumed: its status is {state} (only a stopped, interrupted or "
                       "failed run continues)", field="force", hint="start it again under the same name with {name}")
    if not os.path.lexists(run.file("checkpoint.pt")):
        when = "it ended before its first epoch" if not snap.done else "killed before its first checkpoint"
        raise RunError(f"run {run.id} has no checkpoint to resume from ({when})",
                       field="force", hint="start it again under the same name with {name}")
    return run.config()


def _wait_for_figures(path: Path) -> None:
    """A finished run being replaced may still have a child drawing its figures
    (core/figures/background.py), holding the folder: let it finish first."""
    from core.figures.background import wait_drawn

    if path.is_dir() and not path.is_symlink():
        try:
            wait_drawn(Run(path))
        except (RunError, OSError, ValueError):
            pass  # a damaged folder: new_run says what it makes of it


@contextmanager
def prepare(request: RunRequest, phase: Callable[[str], None] = lambda text: None) -> Iterator[Ready]:
    from core.data.mnist import load_mnist
    from core.nn.models import pick_device
    from core.engine.fit import preflight

    run, locked = None, False
    try:
        if request.resume:
            run = open_run(request.resume, request.runs_dir)
            if run.state() is Status.FINISHED:  # say so, even while a child draws its figures
                resumable(run)
            if not request.dry_run:
                acquire(run.path)  # a live writer holds it: refused, naming the process
                locked = True
            config = resumable(run)
            if request.device:
                config = replace(config, device=request.device)
            if request.threads is not None:
                config = replace(config, threads=request.threads)
        else:
            config = request.config.validate()
            check_destination(request.runs_dir, request.name)  # a dry run checks them too
        device = pick_device(config.device)
        why = None  # fit resolves "auto" and says why; config.json keeps what was asked (sweeps match on it)
        if request.data is not None:
            data = request.data
        else:
            phase(f"loading MNIST onto {device}")
            data = load_mnist(request.data_dir, device, config.subset, request.download)
        preflight(config, data)  # fail before a run folder exists, not after
        if run is None and not request.dry_run:
            if request.force and request.name:
                _wait_for_figures(Path(request.runs_dir) / request.name)
            run = new_run(config, request.runs_dir, name=request.name, force=request.force, keep_lock=True)
            locked = True
        if request.dry_run:
            journal = DryJournal(run) if run else NullJournal()
        else:
            journal = Journal(run)
        yield Ready(config, data, journal, bool(request.resume), 1 if request.dry_run else None, why)
    finally:
        if locked:
            release(run.path)
