"""Run directories: create, find, list, and write files so a crash never truncates one.

runs/<YYYYmmdd-HHMMSS>-<kind>-z<latent>/
    config.json     the AEConfig
    status.json     a Status, epoch, step, the writer's pid and a heartbeat
    lock            held (flock) by the one process that writes the run
    metrics.jsonl   one JSON object per finished epoch, appended and flushed
    progress.jsonl  one JSON object per Progress event
    history/        epoch-NNNN.npz: scatter codes, labels, interpolation frames
    checkpoint.pt   one dict (model, optimizer, config, epoch, step, rng ...)
    *.png, latents.npz
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
import time
import warnings
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Callable

from core.config import AEConfig
from core.errors import BadInput, RunError
from core.lock import acquire, holder, release

DEFAULT_ROOT = Path("runs")
# Everything aekl may put in a run folder; only these are ever removed.
RUN_FILES = ("config.json", "status.json", "metrics.jsonl", "progress.jsonl", "checkpoint.pt", "latents.npz",
             "loss.png", "latent.png", "interpolation.png", "reconstructions.png", "manifold.png",
             "samples.png", "traversals.png", "latent.gif", "interpolation.gif")
HISTORY = "history"


class Status(str, Enum):
    """What a run is doing; serialised as the plain word in status.json."""

    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"
    FINISHED = "finished"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # recorded as running, but its process is gone
    DAMAGED = "damaged"  # a file of the run cannot be read

    def __str__(self) -> str:
        return self.value


RESUMABLE = (Status.STOPPED, Status.INTERRUPTED, Status.FAILED)
_ID_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# --- crash-safe writes -------------------------------------------------------


def atomic_write(path: Path, write: Callable[[io.BufferedWriter], None]) -> Path:
    """Write via a temp file in the same folder, fsync, then os.replace.

    A reader (or a process killed mid-write) sees the old file or the new one,
    never a prefix. The temp file is removed if writing fails.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; run files are meant to be shared
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise RunError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_json(path: Path, obj: Any) -> Path:
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, allow_nan=False) + "\n").encode())


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RunError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RunError(f"cannot read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise RunError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None


# --- run folders -------------------------------------------------------------


def check_run_id(run_id: str) -> str:
    """Run ids are plain folder names: no paths, no '..', nothing outside the root."""
    if not run_id or not _ID_OK.match(run_id) or ".." in run_id:
        raise BadInput(f"{run_id!r} is not a run id (a folder name under the runs root, no paths)")
    return run_id


@dataclass(frozen=True)
class Run:
    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    def file(self, name: str) -> Path:
        return self.path / name

    # config and status
    def config(self) -> AEConfig:
        path = self.file("config.json")
        try:
            return AEConfig.from_dict(read_json(path), source=str(path))
        except BadInput as exc:
            raise RunError(str(exc)) from None

    def write_config(self, config: AEConfig) -> None:
        atomic_write_json(self.file("config.json"), config.to_dict())

    def status(self) -> dict[str, Any]:
        path = self.file("status.json")
        if not path.exists():
            return {"status": "new", "epoch": 0, "step": 0}
        return read_json(path)

    def write_status(self, status: Status | str, epoch: int, step: int = 0, **extra: Any) -> None:
        body = {"status": str(Status(status)), "epoch": epoch, "step": step, "pid": os.getpid(),
                "updated": time.time(), **extra}
        atomic_write_json(self.file("status.json"), body)

    def state(self) -> Status:
        """The status as it really is: a `running` run whose writer is gone is interrupted."""
        word = self.status().get("status", "new")
        try:
            status = Status(word)
        except ValueError:
            return Status.DAMAGED
        if status in (Status.RUNNING, Status.NEW) and holder(self.path) is None:
            return Status.INTERRUPTED if status is Status.RUNNING else Status.NEW
        return status

    def history_file(self, epoch: int) -> Path:
        return self.path / HISTORY / f"epoch-{epoch:04d}.npz"

    # metrics: appended whole lines, flushed, so a crash loses at most one line
    def append_metrics(self, row: dict[str, Any]) -> None:
        line = json.dumps(row, allow_nan=False) + "\n"
        try:
            with open(self.file("metrics.jsonl"), "a") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise RunError(f"cannot write {self.file('metrics.jsonl')}: {exc.strerror}") from None

    def metrics(self) -> list[dict[str, Any]]:
        path = self.file("metrics.jsonl")
        if not path.exists():
            return []
        rows: list[dict[str, Any]] = []
        lines = path.read_text().splitlines(keepends=True)
        for i, line in enumerate(lines):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                if i == len(lines) - 1 and not line.endswith("\n"):
                    warnings.warn(f"{path}: ignoring a partial last line (the run was killed mid-write)")
                    break
                raise RunError(f"{path}: line {i + 1} is not valid JSON") from None
        return rows

    def truncate_metrics(self, epochs: int) -> None:
        """Keep the first `epochs` rows: a resume rewrites what followed the checkpoint."""
        rows = self.metrics()[:epochs]
        text = "".join(json.dumps(r, allow_nan=False) + "\n" for r in rows)
        atomic_write_bytes(self.file("metrics.jsonl"), text.encode())

    # checkpoint
    def save_checkpoint(self, state: dict[str, Any]) -> Path:
        import torch

        buf = io.BytesIO()
        torch.save(state, buf)
        return atomic_write_bytes(self.file("checkpoint.pt"), buf.getvalue())

    def load_checkpoint(self, map_location="cpu") -> dict[str, Any]:
        import pickle

        import torch

        path = self.file("checkpoint.pt")
        if not path.exists():
            raise RunError(f"{path} is missing; the run has nothing to resume from")
        try:
            # weights_only refuses arbitrary pickled objects: a checkpoint is data.
            state = torch.load(path, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsafe content"
            raise RunError(f"{path} was refused: it holds more than tensors ({first[:120]})") from None
        except (RuntimeError, EOFError, OSError, ValueError) as exc:
            raise RunError(f"{path} is damaged or truncated ({type(exc).__name__})") from None
        if not isinstance(state, dict) or "model" not in state:
            raise RunError(f"{path} is not an aekl checkpoint")
        return state


def new_run(config: AEConfig, root: Path, name: str | None = None, force: bool = False,
            keep_lock: bool = False) -> Run:
    """Create a run folder. A name the user chose must be new unless `force`,
    and `force` only ever replaces a run folder, never anything else.

    With `keep_lock` the caller leaves holding the run's lock (and must
    release it), so nobody can write the folder between creation and training.
    """
    run = _create(config, root, name, force)
    if not keep_lock:
        release(run.path)
    return run


def _create(config: AEConfig, root: Path, name: str | None, force: bool) -> Run:
    if name:
        path = Path(root) / check_run_id(name)
        if path.is_symlink() or path.exists():
            if not force:
                raise RunError(f"run {path} already exists", field="force", hint="use {name} to replace it")
            return _replace_run(path, config)
        _mkdir(path, exist_ok=False)
    else:
        base = f"{time.strftime('%Y%m%d-%H%M%S')}-{config.tag}"
        path, n = Path(root) / base, 1
        while not _mkdir(path, exist_ok=True):  # two runs started in the same second
            n += 1
            path = Path(root) / f"{base}-{n}"
    run = Run(path)
    acquire(path)
    try:
        run.write_config(config)
        run.write_status(Status.NEW, 0)
    except BaseException:
        release(path)
        raise
    return run


def _is_ours(run: Run) -> bool:
    if run.file("config.json").is_symlink():
        return False
    try:
        run.config()
        return True
    except RunError:
        return False


def _mkdir(path: Path, exist_ok: bool) -> bool:
    """Create the folder; False if it already exists and `exist_ok`. mkdir is
    atomic, so of two processes asking for one name exactly one gets it."""
    try:
        path.mkdir(parents=True)
        return True
    except FileExistsError:
        if exist_ok:
            return False
        raise RunError(f"run {path} already exists", field="force", hint="use {name} to replace it") from None
    except OSError as exc:
        raise RunError(f"cannot create run folder {path}: {exc.strerror}") from None


def _replace_run(path: Path, config: AEConfig) -> Run:
    """Empty a run folder of what aekl wrote there, under its lock, and start anew."""
    if path.is_symlink() or not path.is_dir():
        raise RunError(f"{path} is not a run folder; not replacing it")
    run = Run(path)
    if not _is_ours(run):
        if holder(path) is not None:  # another writer is replacing it this very moment
            acquire(path, wait=0)  # raises "in use by process N" ...
            release(path)  # ... unless it let go just now
        raise RunError(f"{path} is not an aekl run (no readable config.json of ours); not replacing it")
    acquire(path)
    try:
        if not _is_ours(run):
            raise RunError(f"{path} is not an aekl run any more; not replacing it")
        for name in RUN_FILES:
            target = path / name
            if target.is_file() or target.is_symlink():
                target.unlink()
        history = path / HISTORY
        if history.is_dir() and not history.is_symlink():
            for item in history.glob("epoch-*.npz"):
                item.unlink()
        sweep_temp_files(run)
        run.write_config(config)
        run.write_status(Status.NEW, 0)
    except BaseException:
        release(path)
        raise
    return run


def open_run(run_id: str, root: Path) -> Run:
    path = Path(root) / check_run_id(run_id)
    if not path.is_dir():
        raise RunError(f"no run named {run_id!r} under {root}")
    if not (path / "config.json").is_file():
        raise RunError(f"{path} is not an aekl run (no config.json)")
    return Run(path)


def sweep_temp_files(run: Run) -> int:
    """Remove temp files a killed writer left behind; the real files are intact."""
    count = 0
    for tmp in run.path.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
        count += 1
    return count


def list_runs(root: Path) -> list[dict[str, Any]]:
    """One summary per run folder, newest first; damaged runs are listed as such."""
    root = Path(root)
    if not root.is_dir():
        return []
    rows = []
    for path in sorted(root.iterdir(), reverse=True):
        if not (path / "config.json").is_file():
            continue
        run = Run(path)
        row: dict[str, Any] = {"id": run.id, "path": str(path)}
        try:
            cfg = run.config()
            run.status()  # read to find damage; the state below reads it again
            metrics = run.metrics()
        except RunError as exc:
            row.update(status="damaged", error=str(exc))
            rows.append(row)
            continue
        tests = [m["test_mse"] for m in metrics if "test_mse" in m]
        row.update(
            kind=cfg.kind,
            latent=cfg.latent,
            epochs=len(metrics),
            planned=cfg.epochs,
            best_test_mse=min(tests) if tests else None,
            status=str(run.state()),
        )
        rows.append(row)
    return rows
