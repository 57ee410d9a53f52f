"""Stop a run that trains in another process, safely.

Only ever signals a process that (a) holds the run's lock right now, (b) is
on this machine and (c) is an aekl training process: its command line says
so and, where /proc shows it, it has the run's lock file open. A pid that was
reused by some other program is never signalled.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

from core.errors import RunError
from core.runfolder.lock import LOCK_NAME, holder
from core.runfolder.runs import Run


def trainer_pid(run: Run) -> int:
    """The pid of the live aekl process training `run`; RunError otherwise."""
    info = holder(run.path)
    if info is None:
        raise RunError(f"run {run.id} is not training (status: {run.state()})")
    pid, host = info.get("pid"), info.get("host")
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        raise RunError(f"run {run.id}: its lock does not name a training process")
    if host and host != socket.gethostname():
        raise RunError(f"run {run.id} trains on {host}; stop it there")
    if not _is_trainer(pid, run.path):
        raise RunError(f"process {pid} recorded for run {run.id} is not an aekl training of it; nothing signalled")
    return pid


def _is_trainer(pid: int, folder: Path) -> bool:
    proc = Path(f"/proc/{pid}")
    if not proc.is_dir():
        return _exists(pid)  # no /proc (macOS): the lock is held and the pid is alive
    try:
        argv = (proc / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    words = [a.decode(errors="replace") for a in argv]
    if "train" not in words and not any(w.endswith("sweep") for w in words):
        return False
    if not any("aekl" in w or "core.cli" in w or "core" == w for w in words):
        return False
    lock = str((Path(folder) / LOCK_NAME).resolve())
    try:
        fds = list((proc / "fd").iterdir())
    except OSError:
        return True  # another user's process: cmdline is all we can see
    return any(_target(fd) == lock for fd in fds)


def _target(fd: Path) -> str:
    try:
        return os.readlink(fd)
    except OSError:
        return ""


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def request_stop(run: Run) -> int:
    """Ask the trainer of `run` to stop after its current step (SIGTERM); return its pid."""
    pid = trainer_pid(run)
    os.kill(pid, signal.SIGTERM)
    return pid


def wait_stopped(run: Run, timeout: float) -> bool:
    """True once nobody holds the run's lock (the trainer wrote its files and left)."""
    end = time.monotonic() + timeout
    while holder(run.path) is not None:
        if time.monotonic() > end:
            return False
        time.sleep(0.1)
    return True
