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

import json
import os
import re
import stat
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import MAX_NAME, RUNS_DIR, AEConfig, user_path
from core.errors import BadInput, RunError
from core.runfolder.lock import acquire, describe, holder, release
from core.runfolder.reading import Tail, load_history, open_regular, read_json_file, read_npz
from core.runfolder.schema import (MAX_METRICS_BYTES, NEW_STATUS, Damaged, HistoryRecord, MetricsRow, Snapshot,
                                   Status, StatusRecord, check_epochs, parse_json, parse_metrics_row, parse_status)
from core.runfolder.safeio import atomic_write  # noqa: F401 - callers still import it from here
from core.runfolder.safeio import append_to, atomic_write_bytes, clean_temps, open_folder, open_subfolder, remove_in

DEFAULT_ROOT = RUNS_DIR  # one default, defined beside the --out option
_ID_OK = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

# Everything aekl may put in a run folder; only these are ever removed.
RUN_FILES = ("config.json", "status.json", "metrics.jsonl", "progress.jsonl", "checkpoint.pt", "latents.npz",
             "loss.png", "latent.png", "interpolation.png", "reconstructions.png", "manifold.png",
             "samples.png", "traversals.png", "latent.gif", "interpolation.gif")
HISTORY = "history"


# --- crash-safe writes: atomic_write(_bytes) live in core.runfolder.safeio ---




def save_without_crc(state: dict, f) -> None:
    """torch.save without its zip CRC32 pass, 5-10 ms of a 17 MB checkpoint here.
    torch.load never checks that sum (a flipped byte loads silently either way),
    so it guarded nothing. Where torch has no such switch, it saves as usual."""
    import torch

    try:
        from torch.utils.serialization import config

        before = config.save.compute_crc32
    except (ImportError, AttributeError):
        torch.save(state, f)
        return
    config.save.compute_crc32 = False
    try:
        torch.save(state, f)
    finally:
        config.save.compute_crc32 = before


def atomic_write_json(path: Path, obj: Any) -> Path:
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, allow_nan=False) + "\n").encode())


# --- run folders -------------------------------------------------------------


def check_run_id(run_id: str, field: str | None = None) -> str:
    """Run ids are plain folder names: no paths, no '..', nothing outside the root.

    `field` names the option a new name came from; without it the text is
    an id given to find an existing run. fullmatch, not match with '$',
    which also matches before a final newline.
    """
    if len(run_id) > MAX_NAME:
        rule = f"is {len(run_id)} characters long; a run name has at most {MAX_NAME}"
        if field:
            raise BadInput(field=field, rule=rule)
        raise BadInput(f"the run id {rule}")
    if not _ID_OK.fullmatch(run_id) or ".." in run_id:
        if field:
            raise BadInput(field=field, value=run_id,
                           rule="must be a plain folder name (letters, digits, '.', '_', '-'; no paths)")
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
            return AEConfig.from_dict(read_json_file(path), source=str(path))
        except BadInput as exc:
            raise RunError(str(exc)) from None

    def write_config(self, config: AEConfig) -> None:
        atomic_write_json(self.file("config.json"), config.to_dict())

    def record(self) -> StatusRecord:
        """status.json, checked; a folder made this instant has none yet and is new."""
        path = self.file("status.json")
        if not os.path.lexists(path):
            return NEW_STATUS
        return parse_status(read_json_file(path), str(path))

    def status(self) -> dict[str, Any]:
        """status.json as written, once it has passed the schema's checks."""
        path = self.file("status.json")
        if not os.path.lexists(path):
            return {"status": str(Status.NEW), "epoch": 0, "step": 0}
        body = read_json_file(path)
        parse_status(body, str(path))
        return body

    def write_status(self, status: Status | str, epoch: int, step: int = 0, **extra: Any) -> None:
        body = {"status": str(Status(status)), "epoch": epoch, "step": step, "pid": os.getpid(),
                "updated": time.time(), **extra}
        atomic_write_json(self.file("status.json"), body)

    def state(self, record: StatusRecord | None = None) -> Status:
        """The status as it really is, from status.json (or `record`, already
        read) and the lock: a `running` run whose writer is gone is interrupted,
        and a stopped, interrupted or failed one whose lock a live process holds
        is running again (a resume that has not written its first status yet)."""
        status = (self.record() if record is None else record).status
        if status in (Status.FINISHED, Status.NEW):
            return status
        live = holder(self.path) is not None
        if status is Status.RUNNING:
            return Status.RUNNING if live else Status.INTERRUPTED
        return Status.RUNNING if live else status

    def history_file(self, epoch: int) -> Path:
        return self.path / HISTORY / f"epoch-{epoch:04d}.npz"

    def history(self, epoch: int, latent: int | None = None) -> HistoryRecord | None:
        """An epoch's codes, labels and frames; None when the run kept none
        (older runs, an epoch not yet written); Damaged when unusable."""
        path = self.history_file(epoch)
        if not os.path.lexists(path):
            return None
        return load_history(path, latent)

    # metrics: appended whole lines, flushed, so a crash loses at most one line
    def append_metrics(self, row: dict[str, Any]) -> None:
        append_to(self.file("metrics.jsonl"), (json.dumps(row, allow_nan=False) + "\n").encode())

    def metric_rows(self, config: AEConfig | None = None) -> list[MetricsRow]:
        """Every finished epoch's row, checked (against `config` when given:
        the latent size of kl_per_dim, no more rows than planned epochs).

        A partial last line (a kill mid-write) is left out with a warning;
        any other bad line makes the file damaged."""
        tail = Tail(self.file("metrics.jsonl"), MAX_METRICS_BYTES)
        try:
            lines = tail.read()
        finally:
            tail.close()
        latent = config.latent if config else None
        rows = [parse_metrics_row(parse_json(line, f"{tail.path}: line {n}"), f"{tail.path}: line {n}", latent)
                for n, line in lines]
        if tail.partial.strip():
            warnings.warn(f"{tail.path}: ignoring a partial last line (the run was killed mid-write)")
        check_epochs(rows, str(tail.path))
        if config and len(rows) > config.epochs:
            raise Damaged(str(tail.path), f"{len(rows)} epochs in a run of {config.epochs}")
        return rows

    def metrics(self) -> list[dict[str, Any]]:
        """The rows of metrics_rows() as dicts, as they were written."""
        return [row.to_dict() for row in self.metric_rows()]

    def snapshot(self) -> Snapshot:
        """The run as lists and headers show it; damage is a verdict here, not an error."""
        config = None
        try:
            check_run_id(self.id)
        except BadInput:  # listed, but no command could open it by that name: say what to do
            return Snapshot(self.id, str(self.path), Status.DAMAGED,
                            f"its folder name {self.id[:80]!r} is not a run id aekl can open (letters, digits, "
                            "'.', '_', '-', starting with a letter or digit): rename the folder")
        try:
            config = self.config()
            record = self.record()
            rows = self.metric_rows(config)
            self.check_files(config, record, len(rows))
            status = self.state(record)
        except RunError as exc:
            return Snapshot(self.id, str(self.path), Status.DAMAGED, exc.message, config)
        reason = record.error if status.bad else ""
        if status is Status.INTERRUPTED and not reason:
            reason = "its process ended without writing a final status (killed, out of memory, power)"
        return Snapshot(self.id, str(self.path), status, reason, config, done=len(rows),
                        step=record.step if len(rows) == record.epoch else 0,
                        best_test_mse=min((r.test_mse for r in rows), default=None))

    def check_files(self, config: AEConfig, record: StatusRecord, done: int) -> None:
        """Whether status.json, the `done` rows of metrics.jsonl and the other files
        tell one story, as far as a few stats and two small reads can tell (Damaged
        otherwise): every face (list, show, resume, the app) gives this verdict."""
        if record.epoch > done:
            raise Damaged(str(self.file("metrics.jsonl")),
                          f"it holds {epochs(done)}, but status.json says {record.epoch} are done "
                          "(lines missing or cut short)")
        if done and record.status is Status.NEW:
            why = "missing" if not os.path.lexists(self.file("status.json")) else "says the run is new"
            raise Damaged(str(self.file("status.json")), f"{why}, but metrics.jsonl holds {epochs(done)}")
        if record.status is Status.FINISHED and done != config.epochs:
            raise Damaged(str(self.file("status.json")),
                          f"it says finished, but {done} of the {config.epochs} epochs are in metrics.jsonl")
        progress = self.file("progress.jsonl")
        if os.path.lexists(progress) and not stat.S_ISREG(os.lstat(progress).st_mode):
            raise Damaged(str(progress), "not a regular file")
        # status.json's own word, not the lock's reading: a resume holding the lock
        # sees the same verdict as a list; a running (or killed) one may be
        # between an epoch's metrics row and its checkpoint
        if done and record.status is not Status.RUNNING:
            check_checkpoint_file(self.file("checkpoint.pt"), done)

    def truncate_metrics(self, epochs: int) -> None:
        """Keep the first `epochs` rows: a resume rewrites what followed the checkpoint."""
        rows = self.metrics()[:epochs]
        text = "".join(json.dumps(r, allow_nan=False) + "\n" for r in rows)
        atomic_write_bytes(self.file("metrics.jsonl"), text.encode())

    # checkpoint
    def save_checkpoint(self, state: dict[str, Any]) -> Path:
        # straight into the temporary file: no second 17 MB copy in memory
        return atomic_write(self.file("checkpoint.pt"), lambda f: save_without_crc(state, f))

    def load_checkpoint(self, map_location="cpu") -> dict[str, Any]:
        import pickle

        import torch

        path = self.file("checkpoint.pt")
        if not path.exists():
            raise RunError(f"{path} is missing: run {self.id} has no saved weights (none are written before "
                           "its first epoch ends)")
        if not path.is_file():  # a FIFO would block torch.load for ever
            raise RunError(f"{path} is damaged: not a regular file")
        try:
            # weights_only refuses arbitrary pickled objects: a checkpoint is data.
            state = torch.load(path, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as exc:
            # Refused globals (a pickled function or class) are a foreign file;
            # anything else the unpickler trips on is damage.
            if "GLOBAL" not in str(exc):
                raise RunError(f"{path} is damaged or truncated (not a checkpoint aekl can read)") from None
            line = next((ln for ln in str(exc).splitlines() if "GLOBAL" in ln), "")
            raise RunError(f"{path} was refused: it holds more than tensors ({line.strip()[:120]})") from None
        except Exception as exc:  # torch.load on arbitrary bytes raises many types
            raise RunError(f"{path} is damaged or truncated ({type(exc).__name__})") from None
        if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
            raise RunError(f"{path} is not an aekl checkpoint")
        for key in ("model", "trained_model"):  # the reported weights; the trained ones beside an average
            weights = state.get(key, {})
            if not isinstance(weights, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                        for k, v in weights.items()):
                raise RunError(f"{path} is damaged: its {key} holds something other than named tensors")
        return state

    def latents(self) -> tuple[Any, Any]:
        """(codes (N, latent), labels (N,)) from latents.npz, checked against config.json."""
        path = self.file("latents.npz")
        latent = self.config().latent
        arrays = read_npz(path)
        try:
            codes, labels = arrays["codes"], arrays["labels"]
        except KeyError as exc:
            raise RunError(f"{path} is damaged ({type(exc).__name__})") from None
        if (codes.ndim != 2 or codes.shape[1] != latent or labels.shape != (len(codes),)
                or codes.dtype.kind != "f" or labels.dtype.kind not in "iu"):
            raise RunError(f"{path} is damaged: codes {codes.shape} {codes.dtype} and labels {labels.shape} "
                           f"{labels.dtype} do not fit a latent size of {latent}")
        return codes, labels


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


def check_destination(root: Path, name: str | None = None) -> Path:
    """The runs folder a new run would go into, and its name, checked as creating
    it would check them (a dry run or a sweep says so before any work)."""
    root = user_path(root, "runs_dir")
    if os.path.lexists(root) and not root.is_dir():
        raise BadInput(field="runs_dir", value=str(root), rule="is not a folder")
    if name is not None:
        check_run_id(name, field="name")
    return root


def _create(config: AEConfig, root: Path, name: str | None, force: bool) -> Run:
    root = check_destination(root, name)
    if name is not None:
        path = root / name
        if path.is_symlink() or path.exists():
            if not force:
                who = holder(path)
                if who is not None:  # two starts under one name: say who has it
                    raise RunError(f"run {path} is in use by {describe(who)}; pick another --name")
                raise RunError(f"run {path} already exists", field="force", hint="use {name} to replace it")
            return _replace_run(path, config)
        _mkdir(path, exist_ok=False)
    else:
        base = f"{time.strftime('%Y%m%d-%H%M%S')}-{config.tag}"
        path, n = Path(root) / base, 1
        while not _mkdir(path, exist_ok=True):  # two runs started in the same second
            n += 1
            path = Path(root) / f"{base}-{n}"
    return _begin(Run(path), config)


def _begin(run: Run, config: AEConfig, clear: bool = False) -> Run:
    """Take the run's lock and write its config; with `clear`, first remove
    what an earlier run of this folder wrote (and only that)."""
    acquire(run.path)
    try:
        if clear:
            _clear(run)
        run.write_config(config)
        run.write_status(Status.NEW, 0)
    except BaseException:
        release(run.path)
        raise
    return run


def _clear(run: Run) -> None:
    """Remove what aekl writes in a run folder, relative to the folder's own
    descriptor: a name that became a link is removed, never followed, and a
    history folder that is a link is refused."""
    if not _is_ours(run):  # checked again under the lock: it may have changed since
        raise RunError(f"{run.path} is not an aekl run any more; not replacing it")
    dir_fd = open_folder(run.path)
    try:
        for name in RUN_FILES:
            remove_in(dir_fd, name)
        for name in os.listdir(dir_fd):  # what `aekl interpolate` added, by its names alone
            if _INTERPOLATION_NAME.match(name):
                remove_in(dir_fd, name)
        try:
            history = open_subfolder(dir_fd, HISTORY, run.path, create=False)
        except RunError:
            if os.path.lexists(run.path / HISTORY):
                raise
            history = None
        if history is not None:
            try:
                for name in os.listdir(history):
                    if _HISTORY_NAME.match(name):
                        remove_in(history, name)
            finally:
                os.close(history)
    finally:
        os.close(dir_fd)
    sweep_temp_files(run)


_HISTORY_NAME = re.compile(r"^epoch-\d{4,}\.npz$")
_INTERPOLATION_NAME = re.compile(r"^interpolation-\d+-\d+-(linear|slerp)\.png$")  # core/cli/runs.py interpolate


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
    return _begin(run, config, clear=True)


def open_run(run_id: str, root: Path) -> Run:
    root = user_path(root, "runs_dir")
    path = root / check_run_id(run_id)
    if not path.is_dir():
        raise RunError(f"no run named {run_id!r} under {root}")
    # Any config.json makes it a run (a damaged one is reported when read),
    # so that a run whose config became a FIFO or a folder is not "unknown".
    if not os.path.lexists(path / "config.json"):
        raise RunError(f"{path} is not an aekl run (no config.json)")
    return Run(path)


def open_sound(run_id: str, root: Path) -> Run:
    """open_run, refusing a run the schema calls damaged (with the file and the
    reason): commands that use a run's results say what `aekl runs` says."""
    run = open_run(run_id, root)
    snap = run.snapshot()
    if snap.status.damaged:
        raise RunError(f"run {run.id} is damaged: {snap.reason}")
    return run


def sweep_temp_files(run: Run) -> int:
    """Remove temp files a killed writer left behind (in the folder and its
    history); the real files are intact."""
    return clean_temps(run.path, (HISTORY,))


def epochs(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


ZIP_HEAD, ZIP_END = b"PK\x03\x04", b"PK\x05\x06"  # torch.save writes a zip: first header, end record


def check_checkpoint_file(path: Path, done: int) -> None:
    """Damaged unless `path` is a regular file that starts and ends as a zip does
    (torch.save's end record closes the file): catches a missing, linked,
    truncated or foreign checkpoint without loading 17 MB."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise Damaged(str(path), f"missing, though {epochs(done)} {'is' if done == 1 else 'are'} done") from None
    except OSError as exc:
        raise RunError(f"cannot read {path}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(st.st_mode):
        raise Damaged(str(path), "a link, not a file aekl wrote")
    if not stat.S_ISREG(st.st_mode):
        raise Damaged(str(path), "not a regular file")
    fd, st = open_regular(path, 1 << 62)
    try:
        head, tail = os.pread(fd, 4, 0), os.pread(fd, 22, max(0, st.st_size - 22))
    except OSError as exc:
        raise RunError(f"cannot read {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if head != ZIP_HEAD or tail[:4] != ZIP_END:
        raise Damaged(str(path), "truncated or not a checkpoint (torch.save writes a zip file)")


def snapshots(root: Path, cache: dict | None = None) -> list[Snapshot]:
    """One snapshot per run folder, newest first; damaged runs are listed as such.

    With `cache` (a dict the caller keeps between calls) a run whose files
    and lock have not changed is not read again: a list that refreshes itself
    costs a few stats per run."""
    root = check_destination(root)
    if not root.is_dir():
        return []
    try:
        paths = sorted(root.iterdir(), reverse=True)
    except OSError as exc:
        raise RunError(f"cannot list {root}: {exc.strerror or exc}") from None
    found = []
    for path in paths:
        try:
            if not path.is_dir() or not os.path.lexists(path / "config.json"):
                continue
        except OSError:  # a folder we may not look into is not ours to list
            continue
        found.append(_cached(Run(path), cache) if cache is not None else Run(path).snapshot())
    return found


def _cached(run: Run, cache: dict) -> Snapshot:
    key = [holder(run.path) is not None]
    for name in ("config.json", "status.json", "metrics.jsonl", "checkpoint.pt", "progress.jsonl"):
        try:
            st = os.stat(run.file(name), follow_symlinks=False)
            key.append((st.st_ino, st.st_mtime_ns, st.st_size, st.st_mode))
        except OSError:
            key.append(None)
    seen = cache.get(run.path)
    if seen is None or seen[0] != key:
        seen = cache[run.path] = (key, run.snapshot())
    return seen[1]


def list_runs(root: Path) -> list[dict[str, Any]]:
    """`aekl runs --json`: the snapshots as JSON objects."""
    return [s.to_json() for s in snapshots(root)]
