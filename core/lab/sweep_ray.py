"""The Ray executor of a sweep: each run is one Ray task, on this machine or a cluster.

Ray is an optional extra and is imported only here, only when this executor
is chosen. The driver (the `aekl sweep` process) makes every run folder, so
names never collide between workers, and keeps a small actor, the board,
through which tasks report progress and learn that the sweep is stopping.

Files: a worker that sees the driver's runs folder (a shared or the same file
system) trains straight into the run folder. One that does not trains into a
temporary copy and returns the folder's files as bytes; the driver writes
them. Which case holds is decided per task: the driver writes a marker file
with a random token into the runs folder, and a task that reads the same
token back shares the file system.
"""

from __future__ import annotations

import logging
import math
import secrets
import shutil
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

from core.config import AEConfig
from core.errors import AeklError, BadInput, RunError
from core.runfolder.lock import LOCK_NAME
from core.runfolder.runs import Run, Status, atomic_write_bytes, new_run
from core.lab.sweep import Action, Job, Outcome, Point, Report, follow

INSTALL = "pip install -e '.[ray]'"
CONNECT_TIMEOUT = 3.0  # seconds to reach a head node before calling it unreachable
POLL = 0.25  # seconds between the driver's looks at the board
STOP_POLL = 0.3  # seconds between a task's looks at the board's stop flag


def import_ray():
    try:
        import ray
    except ImportError:
        raise BadInput(f"the Ray executor needs Ray, which is not installed here; install the extra: {INSTALL}") from None
    return ray


def check_task_size(cpus: float, gpus: float) -> None:
    """What Ray itself would refuse, refused before anything starts."""
    if not (math.isfinite(cpus) and cpus > 0):
        raise BadInput(field="cpus_per_run", value=cpus, rule="must be a positive number")
    if not (math.isfinite(gpus) and gpus >= 0):
        raise BadInput(field="gpus_per_run", value=gpus, rule="must be 0 or a positive number")
    if gpus > 1 and gpus != int(gpus):
        raise BadInput(field="gpus_per_run", value=gpus, rule="above 1 must be a whole number of GPUs")


def _host_port(address: str) -> tuple[str, int]:
    # "host:port", "ray://host:port" (Ray Client, port 10001 by default) or "host" (GCS port 6379)
    client = address.startswith("ray://")
    rest = address[len("ray://"):] if client else address
    host, _, port = rest.rpartition(":") if ":" in rest else (rest, "", "")
    try:
        return host, int(port) if port else (10001 if client else 6379)
    except ValueError:
        raise BadInput(field="ray_address", value=address, rule="must be auto or host:port") from None


def connect(address: str | None) -> bool:
    """Start a local Ray (address None) or join a cluster; return whether this
    process started it (and so shuts it down). An existing connection is kept."""
    ray = import_ray()
    if address not in (None, "auto"):
        # ray.init retries an unreachable head for a long while; a plain TCP
        # connect answers within CONNECT_TIMEOUT.
        host, port = _host_port(address)
        try:
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
        except OSError as exc:
            raise BadInput(field="ray_address", value=address,
                           rule=f"cannot be reached ({exc.strerror or type(exc).__name__})") from None
    if ray.is_initialized():
        return False
    # Ray logs its start-up at INFO and a few notices at WARNING to stderr;
    # the sweep's own lines say what matters.
    logging.getLogger("ray").setLevel(logging.ERROR)
    options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
    try:
        if address is None:
            ray.init(include_dashboard=False, **options)
        else:
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        if address == "auto":  # Ray's own text here names its flags, not ours
            rule = "found no running Ray cluster on this machine (start one with: ray start --head)"
        else:
            rule = f"gave no Ray cluster ({(str(exc).strip().split('. ') or [type(exc).__name__])[0][:160]})"
        raise BadInput(field="ray_address", value=address or "local", rule=rule) from None
    return True


def check_cluster(cpus: float, gpus: float) -> None:
    """A task must fit on one node, or Ray would queue it for ever."""
    ray = import_ray()
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    most_gpus = max((n.get("GPU", 0) for n in nodes), default=0)
    most_cpus = max((n.get("CPU", 0) for n in nodes), default=0)
    if gpus > most_gpus:
        rule = "asks for a GPU, but the Ray cluster has none" if most_gpus == 0 else \
            f"is more than the {most_gpus:g} GPUs of the largest node"
        raise BadInput(field="gpus_per_run", value=gpus, rule=rule)
    if cpus > most_cpus:
        raise BadInput(field="cpus_per_run", value=cpus, rule=f"is more than the {most_cpus:g} CPUs of the largest node")


# --- run folders as bytes, for workers without the driver's file system ------


def pack(folder: Path) -> dict[str, bytes]:
    """The files of a run folder by relative path (history/ included), without
    the lock (it belongs to the worker's process) and temp files of a killed writer."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink() and p.name != LOCK_NAME and not p.name.endswith(".tmp")}


def unpack(files: dict[str, bytes], folder: Path) -> None:
    for name, data in files.items():
        parts = Path(name).parts
        # names come from pack(); refuse anything that could leave the folder
        if not parts or Path(name).is_absolute() or ".." in parts or len(parts) > 2:
            raise RunError(f"a worker returned a file named {name!r}")
        target = Path(folder, *parts)
        target.parent.mkdir(exist_ok=True)
        atomic_write_bytes(target, data)


# --- the board: progress in, stop flag out -----------------------------------


class Board:
    """A Ray actor (made so by run_ray). Its calls run one at a time, so a task
    that begins before the stop is known as started, and one after it is not."""

    def __init__(self) -> None:
        self.stopping = False
        self.started: set[int] = set()
        self.updates: list[tuple[int, dict]] = []

    def begin(self, index: int) -> bool:
        if self.stopping:
            return False
        self.started.add(index)
        return True

    def stop(self) -> list[int]:
        self.stopping = True
        return sorted(self.started)

    def is_stopping(self) -> bool:
        return self.stopping

    def report(self, index: int, update: dict) -> None:
        self.updates.append((index, update))

    def drain(self) -> list[tuple[int, dict]]:
        out, self.updates = self.updates, []
        return out


_DATA: dict[tuple, Any] = {}  # per worker process: Ray reuses workers, MNIST loads once


def _data(data_dir: str | None, device_name: str, subset: int | None):
    from core.data.mnist import load_mnist
    from core.nn.models import pick_device

    device = pick_device(device_name)
    key = (data_dir, str(device), subset)
    if key not in _DATA:
        _DATA.clear()  # one data set per worker is enough; a GPU's memory is not for hoarding
        _DATA[key] = load_mnist(data_dir, device, subset)
    return _DATA[key]


def _get_aside(ref):
    """ray.get from a helper thread. A task whose main thread blocks in ray.get
    lends its CPUs back to Ray, which then starts more tasks than the CPUs
    allow (measured: three 1-CPU tasks ran at once on 2 CPUs while the board
    was starting); a blocked helper thread lends nothing."""
    import ray

    box: list = []
    helper = threading.Thread(target=lambda: box.append(ray.get(ref)))
    helper.start()
    helper.join()
    if not box:
        raise RunError("the sweep's board did not answer")
    return box[0]


def run_task(index: int, config: dict, run_dir: str, resume: bool, marker: str, token: str,
             files: dict[str, bytes] | None, data_dir: str | None, board) -> dict[str, Any]:
    """One run, on a Ray worker. Returns the final state and, when this worker does
    not share the driver's file system, the run folder's files."""
    import ray

    if not _get_aside(board.begin.remote(index)):
        return {"state": Point.CANCELLED.value, "detail": "", "files": None}
    try:
        shared = Path(marker).read_text() == token
    except OSError:
        shared = False
    cfg = AEConfig.from_dict(config)
    scratch = None
    if shared:
        run = Run(Path(run_dir))
    else:
        scratch = tempfile.mkdtemp(prefix="aekl-task-")
        run = Run(Path(scratch) / Path(run_dir).name)
        run.path.mkdir()
        if files:
            unpack(files, run.path)  # the stopped run to resume
        else:
            run.write_config(cfg)
            run.write_status(Status.NEW, 0)

    stop = threading.Event()
    done = threading.Event()

    def watch() -> None:  # one look at the board per STOP_POLL, not one per step
        while not done.wait(STOP_POLL):
            if ray.get(board.is_stopping.remote()):
                stop.set()
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        from core.engine.fit import fit

        # fit locks the folder for its whole life, as under `aekl train`.
        events = fit(cfg, _data(data_dir, cfg.device, cfg.subset), run=run, resume=resume, should_stop=stop.is_set)
        state, detail = follow(events, cfg.epochs,
                               lambda state, **kw: board.report.remote(index, {"state": state, **kw}))
        return {"state": state, "detail": detail, "files": None if shared else pack(run.path)}
    finally:
        done.set()
        watcher.join()
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def run_ray(jobs: list[Job], root: Path, data_dir: str | None, cpus: float, gpus: float,
            should_stop: Callable[[], bool], report: Report) -> list[Outcome]:
    """Submit one task per job that needs training, follow them, write what comes back.

    On a stop: tasks that have not begun are cancelled (their fresh folders
    removed), running ones stop at a step boundary and leave a resumable run.
    """
    ray = import_ray()
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    marker = root / f".aekl-sweep-{token[:8]}"
    marker.write_text(token)
    board = ray.remote(num_cpus=0)(Board).remote()
    ray.get(board.is_stopping.remote())  # the board is up before any task asks it
    task = ray.remote(run_task).options(num_cpus=cpus, num_gpus=gpus, max_retries=0)

    outcomes: list[Outcome | None] = [None] * len(jobs)
    runs: dict[int, Run] = {}
    made: set[int] = set()  # folders this sweep created
    pending: dict[Any, int] = {}
    try:
        for i, job in enumerate(jobs):
            if job.action is Action.REUSE:
                report(i, Point.REUSED, detail=f"finished run {job.run.id}")
                outcomes[i] = Outcome(Point.REUSED, job.run)
                continue
            if job.run is None:
                runs[i] = new_run(job.config, root)
                made.add(i)
            else:
                runs[i] = job.run
            resume = job.action is Action.RESUME
            files = ray.put(pack(runs[i].path)) if resume else None
            ref = task.remote(i, job.config.to_dict(), str(runs[i].path), resume, str(marker), token, files,
                              data_dir, board)
            pending[ref] = i
            report(i, Point.QUEUED)

        stopping = False
        while pending:
            if should_stop() and not stopping:
                stopping = True
                started = set(ray.get(board.stop.remote()))
                for ref, i in pending.items():
                    if i not in started:
                        ray.cancel(ref)
            done, _ = ray.wait(list(pending), num_returns=1, timeout=POLL)
            for i, update in ray.get(board.drain.remote()):
                if outcomes[i] is None:  # a late progress note must not undo a final state
                    report(i, Point(update.pop("state")), **update)
            for ref in done:
                i = pending.pop(ref)
                result = _result(ray, ref)
                if result["files"]:
                    unpack(result["files"], runs[i].path)
                state = Point(result["state"])
                outcomes[i] = Outcome(state, runs[i], result["detail"])
                report(i, state, detail=result["detail"])
        for i in made:
            _remove_if_unstarted(outcomes[i], runs[i])
    finally:
        marker.unlink(missing_ok=True)
    return [o if o is not None else Outcome(Point.CANCELLED, None) for o in outcomes]


def _result(ray, ref) -> dict:
    """What a finished task returned, or how it ended when it returned nothing."""
    from ray.exceptions import RayTaskError, TaskCancelledError

    try:
        return ray.get(ref)
    except TaskCancelledError:
        return {"state": Point.CANCELLED.value, "detail": "", "files": None}
    except RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        text = str(cause) if isinstance(cause, AeklError) else (str(exc).strip().splitlines() or ["task failed"])[-1]
        return {"state": Point.FAILED.value, "detail": text, "files": None}


def _unstarted(run: Run) -> bool:
    try:
        return run.record().status is Status.NEW
    except RunError:
        return False


def _remove_if_unstarted(outcome: Outcome, run: Run) -> None:
    # A folder made for a task that never began holds only config and status
    # "new": aekl made it, nothing is lost by removing it.
    if outcome.state is Point.CANCELLED and _unstarted(run):
        shutil.rmtree(run.path, ignore_errors=True)
        outcome.run = None
