"""The schema of every file in a run folder, and one parser for each.

A run folder is untrusted input: shared folders, hand edits, crashes and
other programs all write into it. Each parser here takes what was read
(bytes or a decoded JSON value) and returns a checked, typed record, or
raises `Damaged` naming the file and what is wrong with it. Nothing else in
aekl looks inside these files, so one folder gets one verdict everywhere.

    Status          the run's state, with the questions the faces ask
    StatusRecord    status.json
    MetricsRow      one line of metrics.jsonl (one per finished epoch)
    ProgressRow     one line of progress.jsonl (one per Progress event)
    HistoryRecord   history/epoch-NNNN.npz (codes, labels, frames, pair)
    LockRecord      the `lock` file's JSON (who holds the run)
    Snapshot        a whole run as lists and headers show it

Kept free of torch and of every face.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from core.config import AEConfig
from core.errors import RunError

# Readers refuse files far larger than aekl ever writes.
MAX_JSON_BYTES = 1 << 20  # config, status: a few hundred bytes
MAX_LINE_BYTES = 1 << 20  # a metrics row is a few hundred bytes (kl_per_dim of the largest latent included)
MAX_METRICS_BYTES = 64 << 20
MAX_HISTORY_BYTES = 256 << 20
MAX_PID = 1 << 22  # Linux's pid_max ceiling


class Damaged(RunError):
    """A file of a run folder that aekl cannot use as it is."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where} is damaged: {reason}")
        self.where, self.reason = where, reason


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

    @property
    def live(self) -> bool:
        """A process is training it now (it can be stopped)."""
        return self is Status.RUNNING

    @property
    def resumable(self) -> bool:
        """It ended before its last epoch and may continue from its checkpoint."""
        return self in (Status.STOPPED, Status.INTERRUPTED, Status.FAILED)

    @property
    def finished(self) -> bool:
        return self is Status.FINISHED

    @property
    def damaged(self) -> bool:
        return self is Status.DAMAGED

    @property
    def ended(self) -> bool:
        """Nothing more will be written unless someone resumes it."""
        return self not in (Status.NEW, Status.RUNNING)

    @property
    def bad(self) -> bool:
        """It ended without its result: say so in red."""
        return self in (Status.FAILED, Status.INTERRUPTED, Status.DAMAGED)

    @property
    def word(self) -> str:
        """As lists show it: a live run is marked so it stands out."""
        return f"● {self.value}" if self.live else self.value

    @property
    def colour(self) -> str:
        """An ANSI colour name that reads on light and dark backgrounds."""
        return _COLOUR[self]


_COLOUR = {Status.FINISHED: "green", Status.STOPPED: "yellow", Status.RUNNING: "cyan", Status.FAILED: "red",
           Status.INTERRUPTED: "magenta", Status.DAMAGED: "red", Status.NEW: "white"}


# --- JSON values -------------------------------------------------------------


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number aekl writes")


def parse_json(data: bytes | str, where: str) -> Any:
    """JSON without NaN or Infinity (aekl never writes them)."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text, parse_constant=_no_constants)
    except UnicodeDecodeError:
        raise Damaged(where, "not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise Damaged(where, f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except ValueError as exc:
        raise Damaged(where, str(exc)) from None
    except RecursionError:
        raise Damaged(where, "JSON nested too deeply") from None


def kind_of(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), type(value).__name__)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite int or float; True and False are not numbers here."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class _Fields:
    """Typed access to one JSON object, raising Damaged with the field's name."""

    def __init__(self, body: Any, where: str) -> None:
        if not isinstance(body, dict):
            raise Damaged(where, f"expected an object, got {kind_of(body)}")
        self.body, self.where = body, where

    def _get(self, key: str, required: bool) -> Any:
        if key not in self.body or (self.body[key] is None and not required):
            if required:
                raise Damaged(self.where, f"no {key}")
            return None
        return self.body[key]

    def whole(self, key: str, low: int = 0, high: int | None = None, required: bool = True) -> int | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not is_int(value):
            raise Damaged(self.where, f"{key} is {value!r:.40}, not an integer")
        if value < low or (high is not None and value > high):
            raise Damaged(self.where, f"{key} is {value}, outside {low}..{high if high is not None else ''}")
        return value

    def number(self, key: str, low: float | None = 0.0, required: bool = True) -> float | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not is_number(value):
            raise Damaged(self.where, f"{key} is {value!r:.40}, not a number")
        if low is not None and value < low:
            raise Damaged(self.where, f"{key} is {value}, below {low:g}")
        return float(value)

    def text(self, key: str) -> str:
        value = self.body.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise Damaged(self.where, f"{key} is {kind_of(value)}, not text")
        return value[:2000]


# --- status.json -------------------------------------------------------------


@dataclass(frozen=True)
class StatusRecord:
    status: Status  # the word as written (a reader adds what the lock says: Run.state)
    epoch: int  # epochs fully done
    step: int  # steps done in the epoch after them
    pid: int | None = None
    updated: float | None = None
    device: str = ""
    params: int | None = None
    train_size: int | None = None
    steps_per_epoch: int | None = None
    seconds: float | None = None  # wall time of a finished run
    error: str = ""  # why a run failed or was interrupted
    files: dict[str, str] = field(default_factory=dict)


NEW_STATUS = StatusRecord(Status.NEW, 0, 0)  # a folder made this instant has no status.json yet


def parse_status(body: Any, where: str = "status.json") -> StatusRecord:
    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
        raise Damaged(where, f"expected an object with a status, got {kind_of(body)}")
    f = _Fields(body, where)
    word = body["status"]
    try:
        status = Status(word)
    except ValueError:
        raise Damaged(where, f"unknown status {word[:40]!r}") from None
    if status is Status.DAMAGED:
        raise Damaged(where, "the status word 'damaged' is a reader's verdict, never written")
    files = f.body.get("files") or {}
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise Damaged(where, "files is not a table of names to paths")
    return StatusRecord(
        status=status, epoch=f.whole("epoch", 0, 10**9, required=False) or 0,
        step=f.whole("step", 0, 10**12, required=False) or 0,
        pid=f.whole("pid", 1, MAX_PID, required=False), updated=f.number("updated", required=False),
        device=f.text("device"), params=f.whole("params", 0, required=False),
        train_size=f.whole("train_size", 0, required=False),
        steps_per_epoch=f.whole("steps_per_epoch", 0, required=False),
        seconds=f.number("seconds", required=False), error=f.text("error"), files=dict(files))


# --- metrics.jsonl -----------------------------------------------------------

# (name, lowest value); None: any finite number. Older rows lack the losses and lr.
_REQUIRED = (("epoch", 1), ("train_mse", 0.0), ("test_mse", 0.0), ("seconds", 0.0), ("samples_per_s", 0.0))
_OPTIONAL = (("train_loss", None), ("test_loss", None), ("lr", 0.0), ("test_kl", None), ("train_kl", None),
             ("train_beta_kl", None), ("test_beta_kl", None), ("beta", 0.0),
             # VAE, in nats and bits (core/nn/bound.py); the IWAE ones on the last epoch only
             ("test_nelbo", None), ("test_nelbo_bpd", None), ("test_recon_nats", None), ("test_sampled_mse", 0.0),
             ("test_iwae_nll", None), ("test_iwae_bpd", None), ("iwae_gap", None))


@dataclass(frozen=True)
class MetricsRow:
    """One finished epoch. `extra` keeps numeric fields newer than this reader."""

    epoch: int
    train_mse: float
    test_mse: float
    seconds: float
    samples_per_s: float
    train_loss: float | None = None
    test_loss: float | None = None
    lr: float | None = None
    test_kl: float | None = None
    train_kl: float | None = None
    train_beta_kl: float | None = None
    test_beta_kl: float | None = None
    beta: float | None = None
    active_units: int | None = None
    test_nelbo: float | None = None
    test_nelbo_bpd: float | None = None
    test_recon_nats: float | None = None
    test_sampled_mse: float | None = None
    elbo_samples: int | None = None
    test_iwae_nll: float | None = None
    test_iwae_bpd: float | None = None
    iwae_k: int | None = None
    iwae_gap: float | None = None
    kl_per_dim: tuple[float, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """As written: the fields present, in the writer's order."""
        row = {k: getattr(self, k) for k in _ORDER if getattr(self, k) is not None}
        if self.kl_per_dim:
            row["kl_per_dim"] = list(self.kl_per_dim)
        return {**row, **self.extra}


_ORDER = ("epoch", "train_loss", "train_mse", "test_loss", "test_mse", "seconds", "samples_per_s", "lr",
          "test_kl", "train_kl", "train_beta_kl", "test_beta_kl", "active_units", "beta", "test_nelbo",
          "test_nelbo_bpd", "test_recon_nats", "test_sampled_mse", "elbo_samples", "test_iwae_nll", "test_iwae_bpd",
          "iwae_k", "iwae_gap")


def parse_metrics_row(body: Any, where: str, latent: int | None = None) -> MetricsRow:
    """A metrics row; `latent` (from the config) checks the shape of kl_per_dim."""
    f = _Fields(body, where)
    values: dict[str, Any] = {"epoch": f.whole("epoch", 1, 10**9)}
    for key, low in _REQUIRED[1:]:
        values[key] = f.number(key, low)
    for key, low in _OPTIONAL:
        values[key] = f.number(key, low, required=False)
    values["active_units"] = f.whole("active_units", 0, latent, required=False)
    values["elbo_samples"] = f.whole("elbo_samples", 1, required=False)
    values["iwae_k"] = f.whole("iwae_k", 1, required=False)
    values["kl_per_dim"] = _vector(f.body.get("kl_per_dim"), "kl_per_dim", where, latent)
    known = set(_ORDER) | {"kl_per_dim"}
    extra = {}
    for key, value in f.body.items():
        if key in known:
            continue
        if not (value is None or is_number(value) or (isinstance(value, list) and all(map(is_number, value)))):
            raise Damaged(where, f"{str(key)[:40]} is {kind_of(value)}, not a number")
        extra[key] = value
    return MetricsRow(**values, extra=extra)


def _vector(value: Any, key: str, where: str, length: int | None) -> tuple[float, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(is_number(v) for v in value):
        raise Damaged(where, f"{key} is not a list of finite numbers")
    if length is not None and len(value) != length:
        raise Damaged(where, f"{key} has {len(value)} values for a latent size of {length}")
    return tuple(float(v) for v in value)


def check_epochs(rows: list[MetricsRow], where: str) -> None:
    """Rows are epochs 1, 2, 3 ... in order: a resume rewrites what followed its checkpoint."""
    for i, row in enumerate(rows):
        if row.epoch != i + 1:
            raise Damaged(f"{where}: line {i + 1}", f"epoch {row.epoch} where epoch {i + 1} belongs")


# --- progress.jsonl ----------------------------------------------------------


@dataclass(frozen=True)
class ProgressRow:
    epoch: int  # 1-based epoch in progress
    step: int  # steps done in it
    steps: int  # steps per epoch
    loss: float  # nan where the writer had no finite loss to give
    samples_per_s: float
    t: float | None = None  # wall clock when written


def parse_progress_row(body: Any, where: str) -> ProgressRow:
    f = _Fields(body, where)
    steps = f.whole("steps", 1, 10**9)
    loss = f.number("loss", None, required=False)
    return ProgressRow(epoch=f.whole("epoch", 1, 10**9), step=f.whole("step", 0, steps), steps=steps,
                       loss=math.nan if loss is None else loss,
                       samples_per_s=f.number("samples_per_s", required=False) or 0.0,
                       t=f.number("t", required=False))


# --- history/epoch-NNNN.npz --------------------------------------------------

HISTORY_KEYS = ("codes", "labels", "frames", "pair")


@dataclass(frozen=True)
class HistoryRecord:
    codes: np.ndarray  # (n, latent) float32, finite
    labels: np.ndarray  # (n,) int64 in 0..9
    frames: np.ndarray  # (k, 28, 28) float32, finite
    pair: tuple[int, int]  # test indices of the interpolation's ends


def parse_history(arrays: dict[str, np.ndarray], where: str, latent: int | None = None) -> HistoryRecord:
    """Arrays as np.load gave them (allow_pickle=False), checked against the config's latent size."""
    missing = [k for k in HISTORY_KEYS if k not in arrays]
    if missing:
        raise Damaged(where, f"no {', '.join(missing)}")
    codes, labels, frames, pair = (arrays[k] for k in HISTORY_KEYS)
    if codes.ndim != 2 or codes.dtype.kind not in "fiu" or (latent is not None and codes.shape[1] != latent):
        raise Damaged(where, f"codes are {codes.dtype} {codes.shape}, not (n, {latent}) numbers")
    if labels.shape != (len(codes),) or labels.dtype.kind not in "iu":
        raise Damaged(where, f"labels are {labels.dtype} {labels.shape}, not {len(codes)} whole numbers")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise Damaged(where, "labels are not digits 0-9")
    if frames.ndim != 3 or frames.shape[1:] != (28, 28) or frames.dtype.kind not in "fiu":
        raise Damaged(where, f"frames are {frames.dtype} {frames.shape}, not (k, 28, 28) images")
    if pair.shape != (2,) or pair.dtype.kind not in "iu" or pair.min() < 0:
        raise Damaged(where, f"pair is {pair.dtype} {pair.shape}, not two test indices")
    codes, frames = codes.astype(np.float32), frames.astype(np.float32)
    if not (np.isfinite(codes).all() and np.isfinite(frames).all()):
        raise Damaged(where, "codes or frames hold inf or NaN")
    return HistoryRecord(codes, labels.astype(np.int64), frames, (int(pair[0]), int(pair[1])))


# --- lock --------------------------------------------------------------------


@dataclass(frozen=True)
class LockRecord:
    pid: int  # > 1: PID 1 is never a trainer, and True is not a pid
    host: str
    since: float | None


def parse_lock(body: Any, where: str = "lock") -> LockRecord:
    f = _Fields(body, where)
    return LockRecord(pid=f.whole("pid", 2, MAX_PID), host=f.text("host"), since=f.number("since", required=False))


# --- a whole run -------------------------------------------------------------


def epoch_in_progress(status: Status, done: int, step: int, planned: int | None) -> int | None:
    """The epoch being trained (live) or cut off part-way (stopped, killed), if any."""
    if planned is None or done >= planned or status in (Status.NEW, Status.FINISHED, Status.DAMAGED):
        return None
    return done + 1 if status.live or step > 0 else None


def epoch_text(done: int, in_progress: int | None, planned: int | None) -> str:
    """How every face says where a run is: 'epoch 19 of 20, 18 done' while an
    epoch is under way (or was cut off part-way), else '18 of 20 done'."""
    total = "?" if planned is None else str(planned)
    if in_progress is not None:
        return f"epoch {in_progress} of {total}, {done} done"
    return f"{done} of {total} done"


@dataclass(frozen=True)
class Snapshot:
    """A run as a list row or a header shows it: one verdict, one epoch count."""

    id: str
    path: str
    status: Status
    reason: str = ""  # why it is damaged, failed or interrupted
    config: AEConfig | None = None
    done: int = 0  # epochs finished (rows in metrics.jsonl)
    step: int = 0  # steps done in the epoch after them
    best_test_mse: float | None = None

    @property
    def planned(self) -> int | None:
        return self.config.epochs if self.config else None

    @property
    def in_progress(self) -> int | None:
        return epoch_in_progress(self.status, self.done, self.step, self.planned)

    @property
    def epoch_text(self) -> str:
        """'-' for a damaged run: its counts cannot be trusted."""
        return "-" if self.status.damaged else epoch_text(self.done, self.in_progress, self.planned)

    def to_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {"id": self.id, "path": self.path, "status": str(self.status)}
        if self.config is not None:
            row.update(kind=self.config.kind, latent=self.config.latent)
        row.update(epochs=None if self.status.damaged else self.done, planned=self.planned, epoch_in_progress=self.in_progress, step=self.step,
                   epoch_text=self.epoch_text, best_test_mse=self.best_test_mse)
        if self.reason:
            row["reason"] = self.reason
        if self.status.damaged:
            row["error"] = self.reason
        return row
