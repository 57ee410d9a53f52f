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
import os
import secrets
import signal
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from core.config import AEConfig
from core.errors import AeklError, BadInput, RunError
from core.runfolder.lock import LOCK_NAME
from core.runfolder.runs import Run, Status, atomic_write_bytes, new_run
from core.lab.sweep import Action, Job, Outcome, Point, Report, follow

INSTALL = "pip install -e '.[ray]'"
CONNECT_TIMEOUT = 3.0  # seconds for a TCP connect, and again for the head's first answer
JOIN_LIMIT = 24.0  # seconds for ray.init to join a head that answered the probe (30 s in all)
START_LIMIT = 120.0  # seconds for ray.init to start a local Ray on a loaded machine
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


def check_address(address: str | None) -> None:
    """Refuse a malformed --ray-address before anything is imported or started."""
    if address not in (None, "auto"):
        _host_port(address)


def _host_port(address: str) -> tuple[str, int]:
    """(host, port) of "host:port", "ray://host:port" (Ray Client, port 10001
    by default) or "host" (GCS port 6379); a malformed one is BadInput."""
    client = address.startswith("ray://")
    rest = address[len("ray://"):] if client else address
    host, _, port = rest.rpartition(":") if ":" in rest else (rest, "", "")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host  # [::1]:6379
    try:
        number = int(port) if port else (10001 if client else 6379)
    except ValueError:
        number = -1
    if not 0 < number < 65536:
        raise BadInput(field="ray_address", value=address, rule="must be auto or host:port (port 1-65535)")
    if not _host_ok(host):
        raise BadInput(field="ray_address", value=address,
                       rule="must be auto or host:port with a valid host name (dot-separated labels of 1-63 characters)")
    return host, number


def _host_ok(host: str) -> bool:
    """A name the resolver can be asked about: an IP address, or labels of
    1-63 characters that encode (idna would raise on a longer one)."""
    import ipaddress

    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    if not host or len(host) > 253 or any(not 0 < len(label) <= 63 for label in host.rstrip(".").split(".")):
        return False
    try:
        host.encode("idna")
    except UnicodeError:
        return False
    return True


# The first bytes of an HTTP/2 connection (RFC 9113, 3.4) and an empty
# SETTINGS frame. Ray's GCS and Ray Client speak gRPC, that is HTTP/2, and
# answer with a SETTINGS frame of their own; an HTTP/1 server, a silent
# listener or any other program does not.
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
_H2_SETTINGS = 4


def probe(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Check that `address` is a gRPC server (as Ray's head is) within `timeout`
    seconds per step; BadInput saying what answered instead."""
    host, port = _host_port(address)
    try:
        conn = socket.create_connection(_resolve(host, port, timeout), timeout=timeout)
    except (OSError, UnicodeError) as exc:
        why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise BadInput(field="ray_address", value=address, rule=f"cannot be reached ({why})") from None
    try:
        conn.settimeout(timeout)
        conn.sendall(_H2_PREFACE)
        head = _read(conn, 9)
    except socket.timeout:
        raise BadInput(field="ray_address", value=address, rule=f"accepts connections but did not answer as Ray "
                       f"does within {timeout:g} s (is it a Ray head's GCS port?)") from None
    except OSError as exc:
        raise BadInput(field="ray_address", value=address,
                       rule=f"closed the connection ({exc.strerror or type(exc).__name__}); it is not Ray") from None
    finally:
        conn.close()
    if len(head) < 9 or head[3] != _H2_SETTINGS:
        seen = " (it answers HTTP/1: a web server?)" if head.startswith(b"HTTP/") else ""
        raise BadInput(field="ray_address", value=address, rule=f"is not a Ray head{seen}")


def _resolve(host: str, port: int, timeout: float) -> tuple[str, int]:
    """The first address of `host`, or OSError after `timeout` seconds: the
    resolver itself has no timeout we could pass (an offline box may wait
    on its name servers for much longer)."""
    box: list = []

    def ask() -> None:
        try:
            box.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][:2])
        except (OSError, UnicodeError) as exc:
            box.append(exc)

    asker = threading.Thread(target=ask, name="aekl-resolve", daemon=True)
    asker.start()
    asker.join(timeout)
    if not box:
        raise OSError(f"the name {host} did not resolve within {timeout:g} s")
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


def _read(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


class RayNoAnswer(BadInput):
    """ray.init did not return in time; its thread is stuck inside Ray, so the
    process must leave without Ray's exit hooks (see cli.sweep)."""


def connect(address: str | None) -> bool:
    """Start a local Ray (address None) or join a cluster; return whether this
    process started it (and so shuts it down). An existing connection is kept.

    Joining takes at most CONNECT_TIMEOUT * 2 + JOIN_LIMIT seconds (30 s),
    starting a local Ray at most START_LIMIT; left alone, ray.init retries a
    silent head for minutes."""
    ray = import_ray()
    if address not in (None, "auto"):
        probe(address)
    if ray.is_initialized():
        return False
    # Ray logs its start-up at INFO and a few notices at WARNING to stderr;
    # the sweep's own lines say what matters.
    logging.getLogger("ray").setLevel(logging.ERROR)
    options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
    if address is None:
        options["include_dashboard"] = False
    else:
        options["address"] = address
    limit = START_LIMIT if address is None else JOIN_LIMIT
    try:
        _bounded(lambda: ray.init(**options), limit, address)
    except RayNoAnswer:
        raise
    except Exception as exc:  # noqa: BLE001 - Ray raises many types here; each is one line
        raise BadInput(field="ray_address", value=address or "local", rule=_init_rule(address, exc)) from None
    return True


def _init_rule(address: str | None, exc: Exception) -> str:
    text = str(exc).strip()
    if "authenticat" in text.lower() or type(exc).__name__ == "AuthenticationError":
        return _TOKEN_RULE
    if address == "auto":  # Ray's own text here names its flags, not ours
        return "found no running Ray cluster on this machine (start one with: ray start --head)"
    first = (text.splitlines() or [type(exc).__name__])[0].split(". ")[0]
    return f"gave no Ray cluster ({first[:160]})"


def _bounded(call: Callable[[], Any], limit: float, address: str | None) -> Any:
    """`call()` in a helper thread, waited for at most `limit` seconds.

    The main thread stays in Python, so Ctrl-C and SIGTERM are seen at once;
    while Ray may be half-connected they end the process directly (Ray's exit
    hook would wait on the stuck call). Ray's C++ core writes its retries to
    stderr (fd 2), a line a second; that text is kept aside, and read: a head
    that refuses us for want of a token says so there, and only there."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            box["error"] = exc

    helper = threading.Thread(target=target, name="aekl-ray-init", daemon=True)
    end = time.monotonic() + limit
    with _StderrAside() as said, _LeaveOnSignal(said.saved):
        helper.start()
        while helper.is_alive() and time.monotonic() < end:
            helper.join(0.1)
            if _refused_token(said()):
                break
    if _refused_token(said.text):
        error = RayNoAnswer if helper.is_alive() else BadInput
        raise error(field="ray_address", value=address, rule=_TOKEN_RULE)
    if helper.is_alive():
        what = "start a local Ray" if address is None else "answer as a Ray cluster"
        raise RayNoAnswer(field="ray_address", value=address or "local", rule=f"did not {what} within {limit:g} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


_TOKEN_RULE = ("was refused: the cluster uses token authentication; set RAY_AUTH_MODE=token (and the token: "
               "RAY_AUTH_TOKEN or ~/.ray/auth_token) in this shell, or use --ray-address auto on the head node")


def _refused_token(text: str) -> bool:
    return "Unauthenticated" in text or "InvalidAuthToken" in text


class _StderrAside:
    """fd 2 points at an unnamed temp file for the block; calling the object
    returns what was written so far (also kept as `.text` after the block)."""

    def __enter__(self) -> "_StderrAside":
        self.text = ""
        self._file = tempfile.TemporaryFile()
        self.saved = os.dup(2)
        os.dup2(self._file.fileno(), 2)
        return self

    def __call__(self) -> str:
        self.text = os.pread(self._file.fileno(), 1 << 16, 0).decode(errors="replace")
        return self.text

    def __exit__(self, *exc) -> None:
        self()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self._file.close()


class _LeaveOnSignal:
    """SIGINT/SIGTERM end the process at once, with one line on `err_fd` (the
    real stderr while fd 2 is set aside) and 128 + signal."""

    def __init__(self, err_fd: int) -> None:
        self.err_fd = err_fd
        self._old: dict[int, Any] = {}

    def _leave(self, signum, frame) -> None:
        os.write(self.err_fd, b"aekl: error: interrupted while connecting to Ray\n")
        os._exit(128 + signum)

    def __enter__(self) -> "_LeaveOnSignal":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                if signal.getsignal(sig) is not signal.SIG_IGN:
                    self._old[sig] = signal.signal(sig, self._leave)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


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
        from core.runfolder.journal import Journal

        journal = Journal(run)
        journal.figures_on_stop = False  # a stopped sweep ends within a second or two; figures come on resume
        events = fit(cfg, _data(data_dir, cfg.device, cfg.subset), run=journal, resume=resume,
                     should_stop=stop.is_set)
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
    _write_new(marker, token.encode())
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
        _follow_tasks(ray, board, pending, runs, outcomes, should_stop, report)
        for i in made:
            _remove_if_unstarted(outcomes[i], runs[i])
    finally:
        marker.unlink(missing_ok=True)
    return [o if o is not None else Outcome(Point.CANCELLED, None) for o in outcomes]


def _follow_tasks(ray: Any, board: Any, pending: dict[Any, int], runs: dict[int, Run],
                  outcomes: list[Outcome | None], should_stop: Callable[[], bool], report: Report) -> None:
    """Relay the tasks' progress until each has ended; on a stop, cancel those not begun."""
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


def _write_new(path: Path, data: bytes) -> None:
    """A file that must not exist yet (O_EXCL), written without following a link."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise RunError(f"cannot write {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)


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
